//! A model's `manifest.json`: what its image input looks like, which tabular facts it takes and
//! how they are encoded, its labels, how to explain it, and what it is (not) fit for. Parsing
//! checks everything the server will later rely on, so a bad manifest fails at start, not in a
//! consultation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::imaging::Kind;

/// The whole manifest, as served by `GET /api/v1/models` (tensor names left out).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub title: String,
    pub summary: String,
    pub image: ImageInput,
    /// Which shared images the model is fit for; without it, any image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepts: Option<Accepts>,
    #[serde(default)]
    pub tabular: Option<Tabular>,
    pub output: Output,
    pub labels: Vec<Label>,
    pub explanation: Explanation,
    pub intended_use: String,
    #[serde(default)]
    pub limitations: Vec<String>,
    pub licence: String,
    pub not_a_medical_device: bool,
    #[serde(default)]
    pub provenance: String,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
pub enum Layout {
    #[serde(rename = "NCHW")]
    Nchw,
    #[serde(rename = "NHWC")]
    Nhwc,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    Rgb,
    Gray,
}

impl Channels {
    pub fn count(self) -> usize {
        match self {
            Channels::Rgb => 3,
            Channels::Gray => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    Bilinear,
    Nearest,
}

/// The image tensor: `value = (pixel * scale - mean[c]) / std[c]`, pixels 0–255.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    #[serde(skip_serializing)]
    pub input: String,
    pub layout: Layout,
    pub width: u32,
    pub height: u32,
    pub channels: Channels,
    pub resize: Resize,
    pub scale: f32,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// The images a model was made for. A skin-lesion classifier asked about a CT slice still
/// answers with confidence; this is what stops that request.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accepts {
    /// Photographs: PNG and JPEG uploads, stills from live video.
    pub photos: bool,
    /// DICOM modalities (0008,0060), e.g. `XC` (external-camera photography), `DMS`
    /// (dermoscopy), `CT`.
    #[serde(default)]
    pub dicom_modalities: Vec<String>,
}

/// Facts about the patient given beside the image, encoded into one `[1, K]` tensor.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tabular {
    #[serde(skip_serializing)]
    pub input: String,
    pub features: Vec<Feature>,
}

// No deny_unknown_fields here: serde cannot combine it with the flattened kind.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct Feature {
    /// The key clients send (`age`, `sex`, `site`).
    pub field: String,
    pub label: String,
    #[serde(flatten)]
    pub kind: FeatureKind,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureKind {
    /// One value per option, 1 for the chosen one.
    OneHot { options: Vec<String>, default: String },
    /// `value / divide_by`; when missing, `default / divide_by` and, with `missing_flag`, a
    /// trailing 1 (0 when given).
    Number {
        min: f32,
        max: f32,
        divide_by: f32,
        default: f32,
        #[serde(default)]
        missing_flag: bool,
    },
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Output {
    #[serde(skip_serializing)]
    pub name: String,
    pub kind: OutputKind,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Probabilities,
    Logits,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub id: String,
    /// The label's name in English, the fallback for every language.
    pub name: String,
    /// The name in other interface languages, by language code (`{"zh": "黑色素瘤"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malignant: Option<bool>,
}

impl Label {
    /// The name a reader of `lang` sees: the manifest's name in that language, else English.
    pub fn name_in(&self, lang: crate::web::i18n::Lang) -> &str {
        self.names.get(lang.code()).map_or(&self.name, String::as_str)
    }
}

/// How a finding is explained.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Explanation {
    /// The model has an extra output `[1, labels, h, w]` of class activation maps.
    Cam {
        #[serde(skip_serializing)]
        output: String,
    },
    /// Grey out `patch`-pixel squares every `stride` pixels and see how the score falls.
    Occlusion { patch: u32, stride: u32 },
    /// Ablation-CAM (Desai & Ramaswamy, 2020): the model also outputs its last convolutional
    /// feature map (`features`), and `head` is the rest of the network after global average
    /// pooling. Each channel's weight is how much the score falls without it, computed in one
    /// batched run of the head; no gradients needed.
    AblationCam {
        #[serde(skip_serializing)]
        features: String,
        #[serde(skip_serializing)]
        layout: Layout,
        #[serde(skip_serializing)]
        head: String,
        #[serde(skip_serializing)]
        head_pooled: String,
        #[serde(skip_serializing)]
        head_tabular: String,
        #[serde(skip_serializing)]
        head_output: String,
    },
}

/// A tabular value as a client sends it: a number or an option name.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, ToSchema)]
#[serde(untagged)]
pub enum Fact {
    Number(f64),
    Text(String),
}

/// Client-given facts by field; a missing field takes the feature's default.
pub type Facts = BTreeMap<String, Fact>;

impl Manifest {
    /// Parses and checks a manifest; `folder` is the directory name it must carry.
    pub fn parse(json: &str, folder: &str) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_str(json).map_err(|e| e.to_string())?;
        m.check(folder)?;
        Ok(m)
    }

    fn check(&self, folder: &str) -> Result<(), String> {
        let img = &self.image;
        let c = img.channels.count();
        if self.name != folder {
            return Err(format!("name {:?} differs from its folder {folder:?}", self.name));
        }
        if !(1..=4096).contains(&img.width) || !(1..=4096).contains(&img.height) {
            return Err("image width and height must be 1–4096".into());
        }
        if img.mean.len() != c || img.std.len() != c || img.std.contains(&0.0) {
            return Err(format!("mean and std need {c} values each, std non-zero"));
        }
        if self.accepts.as_ref().is_some_and(|a| !a.photos && a.dicom_modalities.is_empty()) {
            return Err("accepts names no kind of image".into());
        }
        if self.labels.is_empty() {
            return Err("labels are empty".into());
        }
        for l in &self.labels {
            if l.name.trim().is_empty()
                || l.names.iter().any(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
            {
                return Err(format!("label {:?}: names must not be empty", l.id));
            }
        }
        match &self.explanation {
            Explanation::Occlusion { patch, stride } if *patch == 0 || *stride == 0 => {
                return Err("occlusion patch and stride must be positive".into());
            }
            Explanation::AblationCam { head, .. }
                if head.contains('/') || head.contains('\\') || head.starts_with('.') =>
            {
                return Err("the head must be a file name inside the model's folder".into());
            }
            _ => {}
        }
        for f in self.tabular.iter().flat_map(|t| &t.features) {
            match &f.kind {
                FeatureKind::OneHot { options, default } if !options.contains(default) => {
                    return Err(format!("{}: default {default:?} is not an option", f.field));
                }
                FeatureKind::Number { divide_by, min, max, .. } if *divide_by == 0.0 || min > max => {
                    return Err(format!("{}: divide_by must be non-zero and min ≤ max", f.field));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the model is fit for an image of `kind` (for DICOM, of `modality`); the error
    /// says what it takes instead.
    pub fn suits(&self, kind: Kind, modality: Option<&str>) -> Result<(), String> {
        let Some(accepts) = &self.accepts else { return Ok(()) };
        let modality = modality.unwrap_or("").trim();
        let fits = match kind {
            Kind::Png | Kind::Jpeg => accepts.photos,
            Kind::Dicom => accepts.dicom_modalities.iter().any(|m| m.eq_ignore_ascii_case(modality)),
        };
        if fits {
            return Ok(());
        }
        let mut takes = Vec::new();
        if accepts.photos {
            takes.push("photographs".to_string());
        }
        if !accepts.dicom_modalities.is_empty() {
            takes.push(format!("DICOM {}", accepts.dicom_modalities.join("/")));
        }
        let this = match kind {
            Kind::Dicom if modality.is_empty() => "a DICOM image without a modality".to_string(),
            Kind::Dicom => format!("a DICOM {modality} image"),
            _ => "a photograph".to_string(),
        };
        Err(format!("{} is made for {}, not {this}", self.name, takes.join(" and ")))
    }

    /// Width of the tabular tensor.
    pub fn tabular_len(&self) -> usize {
        self.tabular.iter().flat_map(|t| &t.features).map(|f| f.kind.width()).sum()
    }

    /// Encodes `facts` for the tabular input; the second value names the fields that took
    /// their default because they were not given. Unknown fields and bad values are errors.
    pub fn encode_facts(&self, facts: &Facts) -> Result<(Vec<f32>, Vec<String>), String> {
        let features: &[Feature] = self.tabular.as_ref().map(|t| t.features.as_slice()).unwrap_or(&[]);
        if let Some(unknown) = facts.keys().find(|k| !features.iter().any(|f| &f.field == *k)) {
            return Err(format!("this model takes no {unknown:?}"));
        }
        let mut out = Vec::with_capacity(self.tabular_len());
        let mut defaulted = Vec::new();
        for f in features {
            let given = facts.get(&f.field);
            match (&f.kind, given) {
                (FeatureKind::OneHot { options, default }, value) => {
                    let chosen = match value {
                        None => {
                            defaulted.push(f.field.clone());
                            default
                        }
                        Some(Fact::Text(t)) if options.contains(t) => t,
                        Some(_) => return Err(format!("{}: one of {}", f.field, options.join(", "))),
                    };
                    if chosen == default && value.is_some() && default == "unknown" {
                        defaulted.push(f.field.clone());
                    }
                    out.extend(options.iter().map(|o| if o == chosen { 1.0 } else { 0.0 }));
                }
                (FeatureKind::Number { min, max, divide_by, default, missing_flag }, value) => {
                    let v = match value {
                        None => None,
                        Some(Fact::Number(n)) if (*min as f64..=*max as f64).contains(n) => {
                            Some(model_input(*n))
                        }
                        Some(_) => return Err(format!("{}: a number from {min} to {max}", f.field)),
                    };
                    if v.is_none() {
                        defaulted.push(f.field.clone());
                    }
                    out.push(v.unwrap_or(*default) / divide_by);
                    if *missing_flag {
                        out.push(if v.is_none() { 1.0 } else { 0.0 });
                    }
                }
            }
        }
        Ok((out, defaulted))
    }
}

impl FeatureKind {
    fn width(&self) -> usize {
        match self {
            FeatureKind::OneHot { options, .. } => options.len(),
            FeatureKind::Number { missing_flag, .. } => 1 + usize::from(*missing_flag),
        }
    }
}

/// A fact as the model takes it: models compute in f32.
#[allow(clippy::cast_possible_truncation, reason = "ONNX inputs are f32; the range was checked")]
fn model_input(x: f64) -> f32 {
    x as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skin() -> Manifest {
        let json = r#"{"name":"m","version":"1","title":"t","summary":"s",
          "image":{"input":"image","layout":"NHWC","width":4,"height":4,"channels":"rgb","resize":"bilinear","scale":1,"mean":[0,0,0],"std":[1,1,1]},
          "tabular":{"input":"meta","features":[
            {"field":"sex","label":"Sex","kind":"one_hot","options":["female","male","unknown"],"default":"unknown"},
            {"field":"age","label":"Age","kind":"number","min":0,"max":120,"divide_by":90,"default":51.9,"missing_flag":true}]},
          "output":{"name":"p","kind":"probabilities"},"labels":[{"id":"a","name":"A"}],
          "explanation":{"method":"occlusion","patch":2,"stride":1},
          "intended_use":"demo","licence":"x","not_a_medical_device":true}"#;
        Manifest::parse(json, "m").unwrap()
    }

    #[test]
    fn facts_are_encoded_in_manifest_order_with_missing_flags() {
        let m = skin();
        let facts =
            Facts::from([("age".into(), Fact::Number(45.0)), ("sex".into(), Fact::Text("male".into()))]);
        let (v, defaulted) = m.encode_facts(&facts).unwrap();
        assert_eq!(v, vec![0.0, 1.0, 0.0, 0.5, 0.0]);
        assert!(defaulted.is_empty());
        let (v, defaulted) = m.encode_facts(&Facts::new()).unwrap();
        assert_eq!(v, vec![0.0, 0.0, 1.0, 51.9 / 90.0, 1.0]);
        assert_eq!(defaulted, ["sex", "age"]);
    }

    #[test]
    fn bad_facts_are_refused() {
        let m = skin();
        for (k, v) in
            [("age", Fact::Number(300.0)), ("sex", Fact::Text("x".into())), ("height", Fact::Number(1.0))]
        {
            assert!(m.encode_facts(&Facts::from([(k.to_string(), v)])).is_err(), "{k}");
        }
    }

    #[test]
    fn a_model_refuses_images_it_was_not_made_for() {
        let mut m = skin();
        assert_eq!(m.suits(Kind::Dicom, Some("CT")), Ok(()), "no accepts: anything");
        m.accepts = Some(Accepts { photos: true, dicom_modalities: vec!["XC".into(), "OT".into()] });
        assert_eq!(m.suits(Kind::Jpeg, None), Ok(()));
        assert_eq!(m.suits(Kind::Dicom, Some("xc ")), Ok(()));
        assert_eq!(
            m.suits(Kind::Dicom, Some("CT")).unwrap_err(),
            "m is made for photographs and DICOM XC/OT, not a DICOM CT image"
        );
        assert!(m.suits(Kind::Dicom, None).unwrap_err().ends_with("without a modality"));
        m.accepts = Some(Accepts { photos: false, dicom_modalities: vec!["CT".into()] });
        assert_eq!(m.suits(Kind::Png, None).unwrap_err(), "m is made for DICOM CT, not a photograph");
        m.accepts = Some(Accepts { photos: false, dicom_modalities: vec![] });
        assert!(m.check("m").is_err(), "a model that takes nothing is a manifest error");
    }

    #[test]
    fn labels_are_named_in_the_readers_language_else_in_english() {
        let mut m = skin();
        m.labels[0].names = BTreeMap::from([("zh".into(), "甲".into())]);
        assert_eq!(m.labels[0].name_in(crate::web::i18n::Lang::Zh), "甲");
        assert_eq!(m.labels[0].name_in(crate::web::i18n::Lang::En), "A");
        m.labels[0].names.clear();
        assert_eq!(m.labels[0].name_in(crate::web::i18n::Lang::Zh), "A", "no Chinese name: English");
        m.labels[0].names = BTreeMap::from([("zh".into(), " ".into())]);
        assert!(m.check("m").unwrap_err().contains("names must not be empty"));
    }

    #[test]
    fn a_manifest_naming_another_folder_is_refused() {
        let json = serde_json::to_string(&serde_json::json!({"name": "x"})).unwrap();
        assert!(Manifest::parse(&json, "m").is_err());
    }
}
