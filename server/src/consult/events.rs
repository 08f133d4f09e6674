//! Room news from the in-room domains, turned into the room's wire messages: diagnosis,
//! imaging and case outcomes send their own events to these sinks and never build a
//! [`ServerMsg`] themselves, as the media plane sends its signals through `hub::signal_sink`.

use std::sync::Arc;

use super::hub::Hub;
use super::protocol::ServerMsg;

impl Hub {
    /// Diagnosis's events as the room's messages.
    pub fn diagnosis_sink(self: &Arc<Self>) -> crate::diagnosis::events::Sink {
        use crate::diagnosis::events::Event;
        let hub = self.clone();
        Arc::new(move |room, event| {
            let hub = hub.clone();
            Box::pin(async move {
                let (msg, clinicians_only) = match event {
                    Event::Finding { finding, clinicians_only } => {
                        (ServerMsg::Finding { finding }, clinicians_only)
                    }
                    Event::Progress { id, progress } => (ServerMsg::FindingProgress { id, progress }, true),
                };
                hub.announce(&room, msg, clinicians_only).await;
            })
        })
    }

    /// Imaging's events as the room's messages.
    pub fn imaging_sink(self: &Arc<Self>) -> crate::imaging::EventSink {
        let hub = self.clone();
        Arc::new(move |room, event| {
            let hub = hub.clone();
            Box::pin(async move {
                let msg = match event {
                    crate::imaging::Event::Shared(image) => ServerMsg::ImageShared { image: Box::new(image) },
                };
                hub.announce(&room, msg, false).await;
            })
        })
    }

    /// Case outcomes' saves and signatures as the review call's message, for its clinicians.
    pub fn outcomes_sink(self: &Arc<Self>) -> crate::records::outcomes::EventSink {
        let hub = self.clone();
        Arc::new(move |room, e| {
            let hub = hub.clone();
            Box::pin(async move {
                let msg = ServerMsg::OutcomeSaved {
                    case: e.case_id,
                    version: e.version,
                    by: e.by,
                    signed: e.signed,
                };
                hub.announce(&room, msg, true).await;
            })
        })
    }
}
