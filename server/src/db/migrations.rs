//! The schema's migrations, compiled into the binary.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::Engine;

/// The migrations compiled into the binary, so a deployment needs no files beside it. Most are
/// one file for both engines; where the engines' SQL differs (triggers), a migration has one
/// file per engine under the same version.
pub fn migrator(engine: Engine) -> Migrator {
    let (frozen, outcomes_frozen, review_record, booking_notices) = match engine {
        Engine::Sqlite => (
            include_str!("../../../migrations/0012_notes_frozen.sqlite.sql"),
            include_str!("../../../migrations/0014_case_outcomes_frozen.sqlite.sql"),
            include_str!("../../../migrations/0017_review_record.sqlite.sql"),
            include_str!("../../../migrations/0023_booking_notices.sqlite.sql"),
        ),
        Engine::Postgres => (
            include_str!("../../../migrations/0012_notes_frozen.postgres.sql"),
            include_str!("../../../migrations/0014_case_outcomes_frozen.postgres.sql"),
            include_str!("../../../migrations/0017_review_record.postgres.sql"),
            include_str!("../../../migrations/0023_booking_notices.postgres.sql"),
        ),
    };
    let sources: [(i64, &str, &'static str); 23] = [
        (1, "foundation", include_str!("../../../migrations/0001_foundation.sql")),
        (2, "scheduling", include_str!("../../../migrations/0002_scheduling.sql")),
        (3, "reviews", include_str!("../../../migrations/0003_reviews.sql")),
        (4, "reminders_feeds", include_str!("../../../migrations/0004_reminders_feeds.sql")),
        (5, "consult", include_str!("../../../migrations/0005_consult.sql")),
        (6, "invites", include_str!("../../../migrations/0006_invites.sql")),
        (7, "device_tokens", include_str!("../../../migrations/0007_device_tokens.sql")),
        (8, "imaging", include_str!("../../../migrations/0008_imaging.sql")),
        (9, "finding_frame", include_str!("../../../migrations/0009_finding_frame.sql")),
        (10, "review_coordinator_idx", include_str!("../../../migrations/0010_review_coordinator_idx.sql")),
        (11, "notes", include_str!("../../../migrations/0011_notes.sql")),
        (12, "notes_frozen", frozen),
        (13, "case_outcomes", include_str!("../../../migrations/0013_case_outcomes.sql")),
        (14, "case_outcomes_frozen", outcomes_frozen),
        (15, "chart", include_str!("../../../migrations/0015_chart.sql")),
        (16, "patient_profiles", include_str!("../../../migrations/0016_patient_profiles.sql")),
        (17, "review_record", review_record),
        (18, "chat_guests", include_str!("../../../migrations/0018_chat_guests.sql")),
        (19, "audit_actor_name", include_str!("../../../migrations/0019_audit_actor_name.sql")),
        (20, "room_attendance", include_str!("../../../migrations/0020_room_attendance.sql")),
        (21, "person_identifiers", include_str!("../../../migrations/0021_person_identifiers.sql")),
        (22, "fhir_search", include_str!("../../../migrations/0022_fhir_search.sql")),
        (23, "booking_notices", booking_notices),
    ];
    Migrator::with_migrations(
        sources
            .into_iter()
            .map(|(version, name, sql)| {
                Migration::new(version, name.into(), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}
