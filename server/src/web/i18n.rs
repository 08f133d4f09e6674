//! Interface languages and the translation table. Every string a page shows goes through
//! [`Tr::t`]; a unit test checks that each key used in a template exists in both languages.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::accounts::model::Role;

/// A supported interface language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// Accepts `en`, `zh` and regional forms such as `en-GB`, `zh-CN`, `zh-Hans`.
    pub fn from_code(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// Picks the supported language with the highest `q` in an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_code(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }
}

/// Translator handed to templates as `page.tr`.
#[derive(Clone, Copy, Debug)]
pub struct Tr(pub Lang);

impl Tr {
    /// The text for `key`; an unknown key shows itself, so a gap is visible, not blank.
    pub fn t(&self, key: &'static str) -> &'static str {
        match table().get(key) {
            Some((en, zh)) => match self.0 {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => key,
        }
    }

    pub fn role(&self, role: &Role) -> &'static str {
        match role {
            Role::Patient => self.t("role.patient"),
            Role::Doctor => self.t("role.doctor"),
            Role::Admin => self.t("role.admin"),
        }
    }

    /// The label of a review answer (`pending`, `accepted`, `declined`).
    pub fn rsvp(&self, response: &str) -> &'static str {
        match response {
            "accepted" => self.t("rsvp.accepted"),
            "declined" => self.t("rsvp.declined"),
            _ => self.t("rsvp.pending"),
        }
    }

    /// Every text whose key starts with `prefix`, as a JSON object safe inside a `<script>`
    /// element: for page scripts that build their own elements.
    pub fn json(&self, prefix: &str) -> String {
        let map: std::collections::BTreeMap<&str, &str> = STRINGS
            .iter()
            .filter(|(k, _, _)| k.starts_with(prefix))
            .map(|(k, en, zh)| (&k[prefix.len()..], if self.0 == Lang::Zh { *zh } else { *en }))
            .collect();
        serde_json::to_string(&map).unwrap_or_default().replace('<', "\\u003c")
    }

    /// Value for `<html lang>`.
    pub fn html_lang(&self) -> &'static str {
        match self.0 {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
}

fn table() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static TABLE: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| STRINGS.iter().map(|(k, en, zh)| (*k, (*en, *zh))).collect())
}

/// key, English, Simplified Chinese.
pub const STRINGS: &[(&str, &str, &str)] = &[
    ("record.findings", "Model findings signed off by clinicians", "经临床医生确认的模型结果"),
    (
        "record.findings_hint",
        "Each row: the image, the model and version it ran, and what the clinician decided.",
        "每行：图像、所用模型及版本，以及临床医生的决定。",
    ),
    ("record.when", "When", "时间"),
    ("record.image", "Image", "图像"),
    ("record.model", "Model", "模型"),
    ("record.decision", "Decision", "决定"),
    ("record.by", "Clinician", "临床医生"),
    ("record.accepted", "Accepted", "已接受"),
    ("record.amended", "Amended", "已修改"),
    ("record.rejected", "Rejected", "已拒绝"),
    ("img.title", "Images", "图像"),
    ("img.case", "For case", "所属病例"),
    ("img.no_case", "the whole review", "整个会诊"),
    ("img.share", "Share image", "分享图像"),
    ("img.capture", "Capture still", "截取画面"),
    (
        "img.drop",
        "Drop a PNG, JPEG or DICOM file here, or choose one.",
        "将 PNG、JPEG 或 DICOM 文件拖到此处，或选择文件。",
    ),
    ("img.uploading", "Uploading…", "正在上传…"),
    ("img.none", "No images shared yet.", "尚未分享图像。"),
    ("img.present", "Present", "主讲"),
    ("img.presenting", "You are presenting", "您正在主讲"),
    ("img.follow", "Follow presenter", "跟随主讲人"),
    ("img.zoom_in", "Zoom in", "放大"),
    ("img.zoom_out", "Zoom out", "缩小"),
    ("img.reset", "Reset view", "重置视图"),
    ("img.window", "Window", "窗宽窗位"),
    ("img.window_default", "Default", "默认"),
    ("img.heatmap", "Heatmap", "热力图"),
    ("img.opacity", "Heatmap opacity", "热力图不透明度"),
    ("img.shared_by", "shared by", "分享者"),
    ("img.no_video", "No live video to capture yet.", "暂无可截取的视频画面。"),
    ("img.pointer", "pointer", "指针"),
    ("img.analyse", "Analyse", "分析"),
    ("img.model", "Model", "模型"),
    (
        "img.facts_hint",
        "Age, sex and body site change the result: enter them when known.",
        "年龄、性别和部位会影响结果：已知时请填写。",
    ),
    ("img.no_models", "No diagnosis models are installed.", "未安装诊断模型。"),
    ("img.unknown", "Not given, so the model assumed defaults:", "未提供，模型使用了默认值："),
    ("img.running", "Analysing…", "正在分析…"),
    ("img.failed", "Analysis failed", "分析失败"),
    ("img.ready", "Model suggestion: awaiting a clinician's sign-off", "模型建议：等待临床医生确认"),
    ("img.accepted", "Accepted", "已接受"),
    ("img.amended", "Amended", "已修改"),
    ("img.rejected", "Rejected", "已拒绝"),
    ("img.accept", "Accept", "接受"),
    ("img.amend", "Amend", "修改"),
    ("img.reject", "Reject", "拒绝"),
    ("img.reason", "Reason", "理由"),
    ("img.label", "Diagnosis", "诊断"),
    ("img.by", "by", "由"),
    ("img.show_heatmap", "Show heatmap", "显示热力图"),
    ("img.model_card", "Model card", "模型说明"),
    (
        "img.not_device",
        "Research and demonstration only. Not a medical device.",
        "仅供研究和演示，不是医疗器械。",
    ),
    (
        "img.hidden_note",
        "Patients and guests see this only after a clinician signs it off.",
        "患者和访客仅在临床医生确认后才能看到。",
    ),
    ("img.malignant", "malignant", "恶性"),
    ("img.intended_use", "Intended use", "预期用途"),
    ("img.limitations", "Limitations", "局限性"),
    ("img.licence", "Licence", "许可"),
    ("img.reviewed", "A clinician reviewed a model's suggestion", "临床医生已审核模型建议"),
    ("img.findings", "Findings", "检查结果"),
    ("fact.age", "Age (years)", "年龄（岁）"),
    ("fact.sex", "Sex", "性别"),
    ("fact.site", "Body site", "部位"),
    ("fact.female", "female", "女"),
    ("fact.male", "male", "男"),
    ("fact.unknown", "unknown", "未知"),
    ("fact.arm", "arm", "手臂"),
    ("fact.head_neck", "head or neck", "头颈部"),
    ("fact.leg_genital", "leg or genital", "腿部或生殖器"),
    ("fact.trunk", "trunk", "躯干"),
    ("nav.menu", "Menu", "菜单"),
    ("nav.home", "Home", "首页"),
    ("nav.users", "Users", "用户"),
    ("nav.audit", "Audit log", "审计日志"),
    ("nav.settings", "Settings", "设置"),
    ("nav.logout", "Sign out", "退出登录"),
    (
        "footer.notice",
        "Consilium · telemedicine consultations · self-hosted",
        "Consilium · 远程医疗会诊 · 自托管",
    ),
    ("role.patient", "Patient", "患者"),
    ("role.doctor", "Doctor", "医生"),
    ("role.admin", "Administrator", "管理员"),
    ("field.email", "Email", "电子邮箱"),
    ("field.password", "Password", "密码"),
    ("field.name", "Name", "姓名"),
    ("field.role", "Role", "角色"),
    ("field.specialty", "Specialty", "专科"),
    ("field.timezone", "Time zone", "时区"),
    ("field.language", "Language", "语言"),
    ("action.save", "Save", "保存"),
    ("action.filter", "Filter", "筛选"),
    ("login.title", "Sign in", "登录"),
    ("login.intro", "Sign in to your Consilium account.", "登录您的 Consilium 账户。"),
    ("login.submit", "Sign in", "登录"),
    ("login.failed", "The email or password is wrong.", "电子邮箱或密码错误。"),
    (
        "login.throttled",
        "Too many sign-in attempts. Please wait a moment and try again.",
        "登录尝试次数过多，请稍后再试。",
    ),
    ("dash.welcome", "Welcome", "欢迎"),
    ("dash.patient.consultations", "Your consultations", "您的会诊"),
    ("dash.patient.none", "You have no consultations booked yet.", "您还没有预约任何会诊。"),
    ("dash.patient.join", "Joining a video consultation", "加入视频会诊"),
    (
        "dash.patient.join_help",
        "When your consultation starts, open the link you were sent. Nothing needs to be installed; a clinician will let you in from the waiting room.",
        "会诊开始时，请打开您收到的链接。无需安装任何软件；医生会从候诊室让您进入。",
    ),
    ("dash.doctor.agenda", "Agenda for the next 7 days", "未来 7 天日程"),
    ("dash.doctor.none", "No consultations in the next 7 days.", "未来 7 天没有安排会诊。"),
    ("dash.doctor.reviews", "Case reviews", "病例讨论"),
    (
        "dash.doctor.no_reviews",
        "You have not been invited to any case review.",
        "您尚未受邀参加任何病例讨论。",
    ),
    ("dash.admin.accounts", "Accounts", "账户"),
    ("dash.admin.manage_users", "Manage users", "管理用户"),
    (
        "dash.admin.audit_help",
        "Every read or change of patient data and every sign-in is recorded.",
        "每一次患者数据的查看或修改以及每一次登录都会被记录。",
    ),
    ("dash.admin.open_audit", "Open the audit log", "打开审计日志"),
    ("dash.admin.inactive", "Inactive", "已停用"),
    ("users.search", "Search", "搜索"),
    ("users.all_roles", "All roles", "全部角色"),
    ("users.show_inactive", "Show inactive", "显示已停用"),
    ("users.status", "Status", "状态"),
    ("users.active", "Active", "正常"),
    ("users.inactive", "Inactive", "已停用"),
    ("users.none", "No users match.", "没有匹配的用户。"),
    ("users.create", "Create user", "创建用户"),
    ("users.created", "The user was created.", "用户已创建。"),
    ("users.edit", "Edit account", "编辑账户"),
    ("users.saved", "Changes saved.", "更改已保存。"),
    ("users.new_password", "New password", "新密码"),
    ("users.new_password_hint", "Leave empty to keep the current one", "留空则保持不变"),
    ("users.access", "Access", "访问权限"),
    ("users.deactivate", "Deactivate account", "停用账户"),
    (
        "users.deactivate_confirm",
        "Deactivate this account? Its sessions end at once.",
        "确定停用此账户？其所有登录会话将立即失效。",
    ),
    (
        "users.deactivate_help",
        "A deactivated account cannot sign in, and every session it had ends at once. Its records are kept.",
        "停用的账户无法登录，现有会话立即失效。其记录会被保留。",
    ),
    ("users.deactivated", "The account was deactivated.", "账户已停用。"),
    ("users.reactivate", "Reactivate account", "重新启用账户"),
    ("users.reactivated", "The account was reactivated.", "账户已重新启用。"),
    (
        "audit.intro",
        "Who read or changed which patient's data, and when. Newest first.",
        "谁在何时查看或修改了哪位患者的数据。按时间倒序。",
    ),
    ("audit.time", "Time", "时间"),
    ("audit.actor", "Actor", "操作者"),
    ("audit.action", "Action", "操作"),
    ("audit.patient", "Patient", "患者"),
    ("audit.object", "Object", "对象"),
    ("audit.address", "Address", "地址"),
    ("audit.detail", "Detail", "详情"),
    ("audit.from", "From", "起始"),
    ("audit.to", "Until", "截止"),
    ("audit.user_id", "user id", "用户 ID"),
    ("audit.system", "system (command line)", "系统（命令行）"),
    ("audit.none", "No entries match.", "没有匹配的记录。"),
    ("audit.older", "Older entries", "更早的记录"),
    ("ics.consultation", "Video consultation", "视频会诊"),
    ("ics.room", "Consultation room:", "会诊室："),
    ("day.1", "Monday", "星期一"),
    ("day.2", "Tuesday", "星期二"),
    ("day.3", "Wednesday", "星期三"),
    ("day.4", "Thursday", "星期四"),
    ("day.5", "Friday", "星期五"),
    ("day.6", "Saturday", "星期六"),
    ("day.7", "Sunday", "星期日"),
    ("nav.book", "Book", "预约"),
    ("nav.appointments", "Appointments", "预约记录"),
    ("nav.agenda", "Agenda", "日程"),
    ("nav.availability", "Consultation hours", "出诊时间"),
    ("nav.schedule", "Schedules", "排班"),
    ("book.title", "Book a consultation", "预约会诊"),
    ("book.any_specialty", "All specialties", "全部专科"),
    ("book.minutes", "min", "分钟"),
    ("book.see_times", "See free times", "查看可约时间"),
    ("book.no_doctors", "No doctors match.", "没有匹配的医生。"),
    ("book.times_in", "Times shown in", "时间显示时区："),
    ("book.choose_new_time", "Choose the new time for your appointment.", "请为您的预约选择新的时间。"),
    ("book.prev_week", "Previous week", "上一周"),
    ("book.next_week", "Next week", "下一周"),
    ("book.no_times", "No free times", "无可约时间"),
    ("book.confirm", "Confirm the appointment", "确认预约"),
    ("book.reason", "Reason for the visit", "就诊原因"),
    ("book.move_reason", "Why the change", "更改原因"),
    ("book.confirm_button", "Book this time", "预约此时间"),
    ("book.move_button", "Move to this time", "改到此时间"),
    ("book.other_time", "Choose another time", "选择其他时间"),
    ("appt.title", "Appointment", "预约"),
    ("appt.doctor", "Doctor", "医生"),
    ("appt.patient", "Patient", "患者"),
    ("appt.when", "When (your time)", "时间（您的时区）"),
    ("appt.doctor_time", "Doctor's local time", "医生当地时间"),
    ("appt.length", "Length", "时长"),
    ("appt.status", "Status", "状态"),
    ("appt.status.booked", "Booked", "已预约"),
    ("appt.status.cancelled", "Cancelled", "已取消"),
    ("appt.status.completed", "Completed", "已完成"),
    ("appt.status.no_show", "No-show", "未到诊"),
    ("appt.status_reason", "Note on the change", "变更说明"),
    ("appt.add_to_calendar", "Add to calendar (.ics)", "添加到日历（.ics）"),
    ("appt.change", "Change or cancel", "更改或取消"),
    ("appt.move", "Move to another time", "改约其他时间"),
    ("appt.cancel_reason", "Reason for cancelling", "取消原因"),
    ("appt.cancel", "Cancel appointment", "取消预约"),
    ("appt.mark_completed", "Mark completed", "标记为已完成"),
    ("appt.mark_no_show", "Mark no-show", "标记为未到诊"),
    ("appt.moved_default_reason", "Moved by the patient", "患者改约"),
    ("appt.upcoming", "Upcoming", "即将到来"),
    ("appt.past", "Past and cancelled", "过往与已取消"),
    ("appt.none_upcoming", "Nothing booked yet.", "暂无预约。"),
    ("appt.none_past", "Nothing yet.", "暂无记录。"),
    ("appt.notice.booked", "Your appointment is booked.", "预约成功。"),
    ("appt.notice.moved", "The appointment was moved.", "预约已改期。"),
    ("appt.notice.cancelled", "The appointment was cancelled.", "预约已取消。"),
    ("appt.notice.marked", "The outcome was recorded.", "结果已记录。"),
    (
        "avail.help",
        "Weekly hours, one line per weekday, as ranges like 09:00-12:00, 13:00-17:00, in the doctor's time zone",
        "每周出诊时间，每个工作日一行，格式如 09:00-12:00, 13:00-17:00，以医生所在时区为准：",
    ),
    ("avail.length", "Minutes per consultation", "每次会诊分钟数"),
    ("sched.week_of", "Week starting", "起始日期"),
    ("sched.edit_hours", "Edit consultation hours", "编辑出诊时间"),
    ("sched.book_here", "Book a patient at this time", "在此时间为患者预约"),
    ("dash.patient.book", "Book a consultation", "预约会诊"),
    ("dash.all_appointments", "All appointments", "全部预约"),
    ("nav.reviews", "Case reviews", "病例讨论"),
    ("review.status.planning", "Planning", "计划中"),
    ("review.status.scheduled", "Scheduled", "已安排"),
    ("review.status.cancelled", "Cancelled", "已取消"),
    ("review.no_time", "no time fixed yet", "尚未确定时间"),
    ("review.experts_count", "experts", "位专家"),
    ("review.none", "No case reviews yet.", "暂无病例讨论。"),
    ("review.plan", "Plan a case review", "计划病例讨论"),
    ("review.title_field", "Title", "标题"),
    ("review.title_placeholder", "Tumour board: melanoma cases", "肿瘤委员会：黑色素瘤病例"),
    ("review.duration", "Length in minutes", "时长（分钟）"),
    ("review.window_from", "Not before", "最早日期"),
    ("review.window_to", "Not after", "最晚日期"),
    ("review.experts", "Experts", "专家"),
    ("review.specialties", "Or any doctor of these specialties", "或以下专科的任一医生"),
    ("review.create", "Create and find a time", "创建并查找时间"),
    ("review.coordinator", "Coordinator", "协调人"),
    ("review.any_of", "Any free doctor of", "任一有空的医生："),
    ("review.your_answer", "Your answer", "您的回复"),
    ("review.comment", "Comment (optional)", "备注（可选）"),
    ("review.accept", "Accept", "接受"),
    ("review.decline", "Decline", "拒绝"),
    ("review.find_time", "Find a time", "查找时间"),
    (
        "review.find_help",
        "The earliest times when every expert is free within their own working hours, shown in each expert's local time.",
        "在每位专家各自工作时间内均有空的最早时间，以每位专家的当地时间显示。",
    ),
    ("review.find_button", "Find common times", "查找共同时间"),
    (
        "review.no_proposals",
        "No common free time in the window. Widen the window or change the experts.",
        "在该时间范围内没有共同空闲时间。请扩大范围或更换专家。",
    ),
    ("review.schedule_this", "Schedule at this time", "安排在此时间"),
    ("review.agenda", "Agenda", "议程"),
    ("review.question", "Clinical question", "临床问题"),
    ("review.notes", "Notes", "备注"),
    ("review.no_cases", "No cases on the agenda yet.", "议程中尚无病例。"),
    ("review.add_case", "Add a case", "添加病例"),
    ("review.cancel", "Cancel the review", "取消病例讨论"),
    ("review.cancel_confirm", "Cancel this case review for everyone?", "确定为所有人取消此病例讨论？"),
    ("rsvp.pending", "Awaiting answer", "待回复"),
    ("rsvp.accepted", "Accepted", "已接受"),
    ("rsvp.declined", "Declined", "已拒绝"),
    ("reminder.subject", "Reminder", "提醒"),
    (
        "reminder.greeting",
        "Hello {name}, this is a reminder of your upcoming session:",
        "{name}，您好！提醒您即将进行的会诊：",
    ),
    ("reminder.join", "Open it here:", "请在此打开："),
    ("feed.title", "Calendar subscription", "日历订阅"),
    (
        "feed.help",
        "A private address that calendar programs (Outlook, Google Calendar, Apple Calendar, Thunderbird) can subscribe to, with all your appointments and case reviews. Anyone with the address can read it.",
        "一个私密地址，可在日历程序（Outlook、Google 日历、Apple 日历、Thunderbird）中订阅，包含您全部的预约和病例讨论。任何持有该地址的人都能读取。",
    ),
    ("feed.once", "Copy this address now; it is shown only once.", "请立即复制此地址；它只显示一次。"),
    ("feed.create", "Create subscription address", "创建订阅地址"),
    ("feed.rotate", "Replace the address", "更换地址"),
    ("feed.revoke", "Stop the subscription", "停止订阅"),
    ("avail.exceptions", "Time off and extra hours", "休假与加班"),
    ("avail.off", "Time off", "休假"),
    ("avail.extra", "Extra hours", "加班时段"),
    ("avail.kind", "Kind", "类型"),
    ("avail.from", "From (doctor's local time)", "开始（医生当地时间）"),
    ("avail.until", "Until", "结束"),
    ("avail.add", "Add", "添加"),
    ("avail.remove", "Remove", "删除"),
    ("avail.no_exceptions", "None in the next three months.", "未来三个月内没有。"),
    ("room.title", "Consultation", "会诊"),
    ("room.join", "Join the consultation", "进入会诊"),
    ("room.connecting", "Connecting…", "正在连接…"),
    (
        "room.waiting",
        "You are in the waiting room. The doctor will let you in shortly.",
        "您在候诊室中，医生稍后会让您进入。",
    ),
    ("room.admit", "Admit", "允许进入"),
    ("room.deny", "Turn away", "拒绝"),
    (
        "room.denied",
        "The clinician could not admit you now. Please contact the clinic.",
        "医生暂时无法让您进入，请联系诊所。",
    ),
    ("room.ended", "The consultation has ended.", "会诊已结束。"),
    ("room.lost", "The connection was lost. Reconnecting…", "连接已断开，正在重新连接…"),
    ("room.nobody_waiting", "Nobody is waiting.", "无人候诊。"),
    ("room.participants", "In the call", "通话中"),
    ("room.waiting_room", "Waiting room", "候诊室"),
    ("room.end", "End for everyone", "为所有人结束"),
    ("room.chat", "Chat", "聊天"),
    ("room.invite", "Invite a guest", "邀请访客"),
    ("room.invite_name", "Guest's name", "访客姓名"),
    ("room.invite_placeholder", "e.g. interpreter, family member", "例如：翻译、家属"),
    ("room.invite_create", "Create a one-time link", "生成一次性链接"),
    ("room.device_check", "Camera and microphone", "摄像头和麦克风"),
    ("room.camera", "Camera", "摄像头"),
    ("room.microphone", "Microphone", "麦克风"),
    ("room.level", "Microphone level", "麦克风音量"),
    (
        "room.no_devices",
        "The camera or microphone could not be opened. Allow access in the browser, or check that no other program uses them.",
        "无法打开摄像头或麦克风。请在浏览器中允许访问，或检查是否有其他程序正在使用。",
    ),
    ("room.role.host", "host", "主持人"),
    ("room.role.expert", "expert", "专家"),
    ("room.role.patient", "patient", "患者"),
    ("room.role.guest", "guest", "访客"),
    ("room.send", "Send", "发送"),
    (
        "room.left",
        "You left the consultation. Reload the page to join again.",
        "您已离开会诊。刷新页面即可重新进入。",
    ),
    ("room.muted", "muted", "已静音"),
    ("room.camera_off", "camera off", "摄像头已关"),
    ("room.sharing", "screen", "共享屏幕"),
    ("room.mute", "Mute", "静音"),
    (
        "room.muted_by",
        "{name} turned your microphone off. Turn it on when you want to speak.",
        "{name} 关闭了您的麦克风。需要发言时请重新打开。",
    ),
    ("room.quality_good", "good network", "网络良好"),
    ("room.quality_fair", "fair network", "网络一般"),
    ("room.quality_poor", "poor network", "网络较差"),
    ("room.mic_off", "Mute microphone", "关闭麦克风"),
    ("room.mic_on", "Unmute microphone", "打开麦克风"),
    ("room.camera_turn_off", "Turn camera off", "关闭摄像头"),
    ("room.camera_turn_on", "Turn camera on", "打开摄像头"),
    ("room.screen_share", "Share screen", "共享屏幕"),
    ("room.screen_stop", "Stop sharing", "停止共享"),
    ("room.audio_only", "Audio only", "仅音频"),
    ("room.leave", "Leave", "离开"),
    ("room.controls", "Call controls", "通话控制"),
    ("room.you", "You", "我"),
    ("room.device", "Stream a device", "接入设备视频"),
    ("room.device_label", "Device name", "设备名称"),
    ("room.device_placeholder", "e.g. Dermatoscope", "例如：皮肤镜"),
    ("room.device_create", "Create a device token", "生成设备令牌"),
    (
        "room.device_hint",
        "Enter this URL and token in the device's WHIP settings (OBS, GStreamer). The token works for this room only, for 12 hours.",
        "在设备的 WHIP 设置（OBS、GStreamer）中填写此地址和令牌。令牌仅限本房间使用，有效期 12 小时。",
    ),
    ("room.device_token", "Token", "令牌"),
    ("settings.password", "Password", "密码"),
    ("settings.current_password", "Current password", "当前密码"),
    ("settings.confirm_password", "New password again", "再次输入新密码"),
    (
        "settings.password_help",
        "At least 10 characters. Changing it signs you out everywhere else.",
        "至少 10 个字符。更改后，其他设备上的登录将全部退出。",
    ),
    ("settings.change_password", "Change password", "更改密码"),
    ("settings.password_mismatch", "The two new passwords differ.", "两次输入的新密码不一致。"),
    ("settings.saved", "Your settings were saved.", "您的设置已保存。"),
    ("settings.lang_auto", "Follow my browser", "跟随浏览器"),
    ("error.forbidden", "Not allowed", "无权访问"),
    ("error.not_found", "Not found", "未找到"),
    ("error.server", "Something went wrong", "出现错误"),
    ("error.bad_input", "This request could not be completed", "无法完成此请求"),
    ("error.back", "Back to the start page", "返回首页"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("fr-FR,en;q=0.5,zh;q=0.4"), Lang::En);
        assert_eq!(Lang::from_accept_language("de"), Lang::En);
        assert_eq!(Lang::from_accept_language("en;q=0.2, zh-Hans;q=0.9"), Lang::Zh);
    }

    #[test]
    fn every_key_has_both_languages_once() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, zh) in STRINGS {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!en.is_empty() && !zh.is_empty(), "{k} lacks a translation");
        }
    }

    #[test]
    fn every_key_used_in_templates_and_code_is_translated() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut files = Vec::new();
        for dir in [
            "web/templates",
            "server/src",
            "server/src/web",
            "server/src/auth",
            "server/src/accounts",
            "server/src/records",
        ] {
            for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let p = e.unwrap().path();
                if p.is_file()
                    && p.extension().is_some_and(|x| x == "html" || x == "rs")
                    && !p.ends_with("i18n.rs")
                {
                    files.push(p);
                }
            }
        }
        let mut missing = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                if !table().contains_key(key) {
                    missing.push(format!("{key} ({})", f.display()));
                }
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }
}
