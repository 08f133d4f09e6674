//! The case review's record: attendance, the agenda in the review's call, the report, and the
//! notice of a signed outcome.

use super::Entry;

pub const REVIEW: &[Entry] = &[
    // The notice a signed outcome sends to its responsible clinician.
    ("notice.outcome_subject", "A case-review outcome for you to act on", "需要您跟进的会诊结论"),
    (
        "notice.outcome_body",
        "A signed case-review outcome names you as responsible for the next step.",
        "一项已签署的会诊结论指定您为下一步负责人。",
    ),
    ("notice.review", "Case review", "病例讨论"),
    // Attendance (review page and report).
    ("attendance.title", "Attendance", "出席情况"),
    (
        "attendance.help",
        "Recorded from the review's call; the coordinator can correct it.",
        "根据病例讨论的通话自动记录；协调人可更正。",
    ),
    ("attendance.none", "Nobody has joined the review's call yet.", "尚无人加入病例讨论的通话。"),
    ("attendance.joined", "joined", "加入"),
    ("attendance.left", "left", "离开"),
    ("attendance.in_call", "in the call now", "正在通话中"),
    ("attendance.present", "Present", "出席"),
    ("attendance.absent", "Absent", "缺席"),
    ("attendance.mark_present", "Mark present", "标记为出席"),
    ("attendance.mark_absent", "Mark absent", "标记为缺席"),
    ("attendance.corrected_by", "corrected by", "更正者"),
    ("attendance.not_joined", "not in the call", "未加入通话"),
    // The report.
    ("report.title", "Review report", "病例讨论报告"),
    ("report.open", "Report", "报告"),
    ("report.print", "Print", "打印"),
    ("report.pdf", "Download PDF", "下载 PDF"),
    ("report.cases", "Cases", "病例"),
    ("report.findings", "Findings shown", "展示的分析结果"),
    ("report.no_findings", "No signed-off findings for this case.", "本病例没有已确认的分析结果。"),
    ("report.no_outcome", "No outcome recorded.", "未记录结论。"),
    ("report.unsigned", "Draft, not signed", "草稿，未签署"),
    ("report.generated", "Generated", "生成时间"),
    ("report.page", "Page", "页"),
    // The agenda beside the video in the review's call.
    ("agenda.title", "Agenda", "议程"),
    ("agenda.show", "Show to everyone", "向所有人展示"),
    ("agenda.now", "Now discussing", "正在讨论"),
    ("agenda.waiting", "The coordinator has not opened a case yet.", "协调人尚未打开病例。"),
    ("agenda.images", "Images of this case", "本病例的图像"),
    ("agenda.no_images", "No images shared for this case yet.", "本病例尚无共享图像。"),
    ("agenda.opened_by", "opened by", "打开者"),
    ("agenda.closed", "No case is open.", "当前没有打开的病例。"),
    ("agenda.findings", "Signed-off findings", "已确认的分析结果"),
    ("agenda.saving", "Saving…", "正在保存…"),
    ("agenda.saved", "Draft saved", "草稿已保存"),
    ("agenda.not_saved", "Not saved:", "未保存："),
    ("agenda.unsaved", "Changes not saved yet", "更改尚未保存"),
    ("agenda.offline", "Not saved: the connection dropped. Trying again…", "未保存：连接中断，正在重试…"),
    (
        "agenda.sign_confirm",
        "Sign this outcome? It cannot be changed afterwards.",
        "确定签署此结论？签署后不可更改。",
    ),
    ("agenda.signed", "Signed by", "签署人"),
    (
        "agenda.local_old",
        "This device holds text written on an older version of this outcome, which has been saved over since. Copy what you need, then show the saved version.",
        "本设备上保存的内容基于此结论的旧版本，之后已有人保存了新版本。请先复制需要的内容，再显示已保存的版本。",
    ),
    (
        "agenda.read_only",
        "Only the review's panel writes the outcome.",
        "只有病例讨论的专家组成员可以填写结论。",
    ),
];
