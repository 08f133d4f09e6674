//! Printable records as PDF (the case-review report): a title, headings, paragraphs and muted
//! lines, wrapped and broken onto A4 pages, each page numbered in its footer.
//!
//! Nothing is embedded, so a report stays a few kilobytes: Latin text is set in the standard
//! Helvetica every PDF reader has, and other text (Chinese above all) in Adobe's predefined
//! STSong-Light with the UCS-2 encoding, for which readers supply a Song face. Characters
//! beyond the Basic Multilingual Plane are shown as `?`. Line breaks use Helvetica's
//! published widths; CJK characters are a full em and may break anywhere.

use pdf_writer::types::{CidFontType, FontFlags};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

/// One piece of a document, top to bottom.
pub enum Block {
    Title(String),
    Heading(String),
    Subheading(String),
    Text(String),
    /// Secondary information, smaller and grey.
    Muted(String),
}

pub struct Document {
    /// The document's title in its metadata.
    pub title: String,
    pub blocks: Vec<Block>,
    /// Printed at the foot of every page, before the page number ("Page" in the reader's language).
    pub footer: String,
    pub page_word: String,
}

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const FOOTER_Y: f32 = 34.0;

/// The three fonts, by their resource names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Face {
    Regular,
    Bold,
    Cjk,
}

impl Face {
    fn name(self) -> Name<'static> {
        match self {
            Face::Regular => Name(b"F1"),
            Face::Bold => Name(b"F2"),
            Face::Cjk => Name(b"F3"),
        }
    }
}

struct Style {
    size: f32,
    bold: bool,
    gray: f32,
    before: f32,
}

fn style(block: &Block) -> (Style, &str) {
    match block {
        Block::Title(t) => (Style { size: 18.0, bold: true, gray: 0.0, before: 0.0 }, t),
        Block::Heading(t) => (Style { size: 13.0, bold: true, gray: 0.0, before: 14.0 }, t),
        Block::Subheading(t) => (Style { size: 10.5, bold: true, gray: 0.0, before: 8.0 }, t),
        Block::Text(t) => (Style { size: 10.0, bold: false, gray: 0.0, before: 3.0 }, t),
        Block::Muted(t) => (Style { size: 8.5, bold: false, gray: 0.4, before: 2.0 }, t),
    }
}

/// Helvetica's advance widths (thousandths of an em) for ASCII 32–126.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space–/
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0–?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @–O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P–_
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `–o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p–~
];

/// The byte of `c` in WinAnsiEncoding, if it has one.
fn win_ansi(c: char) -> Option<u8> {
    match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => Some(c as u8),
        '€' => Some(0x80),
        '…' => Some(0x85),
        '‘' => Some(0x91),
        '’' => Some(0x92),
        '“' => Some(0x93),
        '”' => Some(0x94),
        '•' => Some(0x95),
        '–' => Some(0x96),
        '—' => Some(0x97),
        '™' => Some(0x99),
        _ => None,
    }
}

fn face_of(c: char, bold: bool) -> Face {
    match (win_ansi(c), bold) {
        (Some(_), false) => Face::Regular,
        (Some(_), true) => Face::Bold,
        (None, _) => Face::Cjk,
    }
}

/// Width of `c` in ems. Bold is taken a tenth wider than Helvetica, which it never exceeds
/// by more, so a bold line never runs past the margin.
fn width(c: char, bold: bool) -> f32 {
    let w = match c {
        ' '..='~' => f32::from(HELVETICA[c as usize - 32]) / 1000.0,
        _ if win_ansi(c).is_some() => 0.556,
        _ => 1.0,
    };
    if bold { w * 1.1 } else { w }
}

/// Characters after which a line may break without a space (CJK scripts).
fn breaks_anywhere(c: char) -> bool {
    c >= '\u{2e80}'
}

/// The pieces a line may break between (words, and each CJK character), each with whether a
/// space came before it.
fn atoms(para: &str) -> Vec<(String, bool)> {
    fn flush(word: &mut String, space: &mut bool, out: &mut Vec<(String, bool)>) {
        if !word.is_empty() {
            out.push((std::mem::take(word), *space));
            *space = false;
        }
    }
    let mut out = Vec::new();
    let mut word = String::new();
    let mut space = false;
    for c in para.chars().filter(|c| !c.is_control()) {
        if c.is_whitespace() {
            flush(&mut word, &mut space, &mut out);
            space = true;
        } else if breaks_anywhere(c) {
            flush(&mut word, &mut space, &mut out);
            out.push((c.to_string(), space));
            space = false;
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut space, &mut out);
    out
}

/// `text` broken into lines of at most `max` ems; its newlines are kept.
fn wrap(text: &str, max: f32, bold: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut used = 0.0;
        for (atom, space) in atoms(para) {
            let gap = if space && !line.is_empty() { width(' ', bold) } else { 0.0 };
            let w: f32 = atom.chars().map(|c| width(c, bold)).sum();
            if used + gap + w > max && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                used = 0.0;
            } else if gap > 0.0 {
                line.push(' ');
                used += gap;
            }
            // A word longer than a line is broken where it reaches the margin.
            for c in atom.chars() {
                let cw = width(c, bold);
                if used + cw > max && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    used = 0.0;
                }
                line.push(c);
                used += cw;
            }
        }
        lines.push(line);
    }
    lines
}

/// A line cut into runs of one face, each encoded for its font.
fn runs(line: &str, bold: bool) -> Vec<(Face, Vec<u8>)> {
    let mut out: Vec<(Face, Vec<u8>)> = Vec::new();
    for c in line.chars() {
        let face = face_of(c, bold);
        if out.last().is_none_or(|(f, _)| *f != face) {
            out.push((face, Vec::new()));
        }
        let bytes = &mut out.last_mut().expect("just pushed").1;
        match (face, win_ansi(c)) {
            (Face::Cjk, _) | (_, None) => {
                let unit = u16::try_from(u32::from(c)).unwrap_or(u16::from(b'?'));
                bytes.extend_from_slice(&unit.to_be_bytes());
            }
            (_, Some(b)) => bytes.push(b),
        }
    }
    out
}

/// One laid-out line: where, how, what.
struct Placed {
    y: f32,
    size: f32,
    bold: bool,
    gray: f32,
    text: String,
}

fn layout(doc: &Document) -> Vec<Vec<Placed>> {
    let top = PAGE_H - MARGIN;
    let bottom = MARGIN;
    let mut pages = vec![Vec::new()];
    let mut y = top;
    for block in &doc.blocks {
        let (s, text) = style(block);
        let leading = s.size * 1.35;
        let lines = wrap(text, (PAGE_W - 2.0 * MARGIN) / s.size, s.bold);
        // A heading is not left alone at the foot of a page.
        let keep = if s.bold { leading * 3.0 } else { leading };
        if y < top && y - s.before - keep < bottom {
            pages.push(Vec::new());
            y = top;
        } else if y < top {
            y -= s.before;
        }
        for text in lines {
            if y - leading < bottom {
                pages.push(Vec::new());
                y = top;
            }
            y -= leading;
            pages.last_mut().expect("a page").push(Placed {
                y,
                size: s.size,
                bold: s.bold,
                gray: s.gray,
                text,
            });
        }
    }
    pages
}

fn show(content: &mut Content, x: f32, line: &Placed) {
    content.begin_text();
    content.set_fill_gray(line.gray);
    content.next_line(x, line.y);
    for (face, bytes) in runs(&line.text, line.bold) {
        content.set_font(face.name(), line.size);
        content.show(Str(&bytes));
    }
    content.end_text();
}

/// The document as a PDF file.
pub fn render(doc: &Document) -> Vec<u8> {
    let pages = layout(doc);
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let info = Ref::new(3);
    let (regular, bold, cjk, cjk_cid, cjk_descriptor) =
        (Ref::new(4), Ref::new(5), Ref::new(6), Ref::new(7), Ref::new(8));
    let page_ref = |i: usize| Ref::new(9 + 2 * i32::try_from(i).unwrap_or(0));
    let content_ref = |i: usize| Ref::new(10 + 2 * i32::try_from(i).unwrap_or(0));

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids((0..pages.len()).map(page_ref)).count(i32::try_from(pages.len()).unwrap_or(0));
    pdf.document_info(info).title(TextStr(&doc.title)).producer(TextStr("Consilium"));
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type0_font(cjk)
        .base_font(Name(b"STSong-Light"))
        .encoding_predefined(Name(b"UniGB-UCS2-H"))
        .descendant_font(cjk_cid);
    pdf.cid_font(cjk_cid)
        .subtype(CidFontType::Type0)
        .base_font(Name(b"STSong-Light"))
        .system_info(pdf_writer::types::SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"GB1"),
            supplement: 2,
        })
        .font_descriptor(cjk_descriptor)
        .default_width(1000.0);
    pdf.font_descriptor(cjk_descriptor)
        .name(Name(b"STSong-Light"))
        .flags(FontFlags::SYMBOLIC | FontFlags::SERIF)
        .bbox(Rect::new(-25.0, -254.0, 1000.0, 880.0))
        .italic_angle(0.0)
        .ascent(880.0)
        .descent(-120.0)
        .cap_height(880.0)
        .stem_v(93.0);

    let total = pages.len();
    for (i, lines) in pages.iter().enumerate() {
        let mut page = pdf.page(page_ref(i));
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H)).parent(tree).contents(content_ref(i));
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Face::Regular.name(), regular);
        fonts.pair(Face::Bold.name(), bold);
        fonts.pair(Face::Cjk.name(), cjk);
        fonts.finish();
        resources.finish();
        page.finish();

        let mut content = Content::new();
        for line in lines {
            show(&mut content, MARGIN, line);
        }
        let footer = Placed {
            y: FOOTER_Y,
            size: 8.0,
            bold: false,
            gray: 0.4,
            text: format!("{} · {} {}/{total}", doc.footer, doc.page_word, i + 1),
        };
        show(&mut content, MARGIN, &footer);
        pdf.stream(content_ref(i), &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_between_chinese_characters() {
        let lines = wrap("one two three four", 4.0, false);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().map(|c| width(c, false)).sum::<f32>() <= 4.0));
        assert_eq!(lines.join(" "), "one two three four");
        let chinese = wrap("会诊结论已签署并通知负责人", 5.0, false);
        assert_eq!(chinese.len(), 3, "{chinese:?}");
        assert_eq!(chinese.concat(), "会诊结论已签署并通知负责人");
    }

    #[test]
    fn breaks_a_word_longer_than_the_line() {
        let lines = wrap(&"x".repeat(100), 10.0, false);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat().len(), 100);
    }

    #[test]
    fn encodes_each_script_for_its_font() {
        let r = runs("Dr. Wu — 吴医生 ok", false);
        assert_eq!(r.len(), 3);
        assert!(r[0].0 == Face::Regular && r[0].1.ends_with(&[0x97, b' ']));
        assert!(r[1].0 == Face::Cjk && r[1].1 == [0x54, 0x34, 0x53, 0x3b, 0x75, 0x1f]);
        assert!(r[2].0 == Face::Regular);
        // Beyond the BMP: a question mark in the CJK font.
        assert_eq!(runs("😀", false)[0].1, [0, b'?']);
    }

    #[test]
    fn long_documents_get_more_pages() {
        let doc = Document {
            title: "t".into(),
            blocks: (0..200).map(|i| Block::Text(format!("line {i}"))).collect(),
            footer: "f".into(),
            page_word: "Page".into(),
        };
        assert!(layout(&doc).len() > 2);
        let bytes = render(&doc);
        assert!(bytes.starts_with(b"%PDF-"));
    }
}
