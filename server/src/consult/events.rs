//! Room news from the in-room domains, turned into the room's wire messages: diagnosis,
//! imaging and case outcomes send their own events to these sinks and never build a
//! [`ServerMsg`] themselves, as the media plane sends its signals through `hub::signal_sink`.

use std::sync::Arc;

use super::hub::{Audience, Hub};
use super::protocol::ServerMsg;

impl Hub {
    /// Diagnosis's events as the room's messages.
    pub fn diagnosis_sink(self: &Arc<Self>) -> crate::diagnosis::events::Sink {
        use crate::diagnosis::events::Event;
        let hub = self.clone();
        Arc::new(move |room, event| {
            let hub = hub.clone();
            Box::pin(async move {
                let (msg, audience) = match event {
                    // Patients and guests hear of a finding once it is signed off, and then
                    // only in its patients' form.
                    Event::Finding { finding } => {
                        let audience = if finding.signed_off() {
                            let theirs = Box::new((*finding).clone().for_patients());
                            Audience::OthersHear(Box::new(ServerMsg::Finding { finding: theirs }))
                        } else {
                            Audience::CliniciansOnly
                        };
                        (ServerMsg::Finding { finding }, audience)
                    }
                    Event::Progress { id, progress } => {
                        (ServerMsg::FindingProgress { id, progress }, Audience::CliniciansOnly)
                    }
                };
                hub.announce(&room, msg, audience).await;
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
                hub.announce(&room, msg, Audience::Everyone).await;
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
                hub.announce(&room, msg, Audience::CliniciansOnly).await;
            })
        })
    }
}
