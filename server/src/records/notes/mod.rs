//! Consultation notes: one per appointment, in SOAP form (subjective, objective, assessment,
//! plan) with diagnoses and patient instructions. The doctor saves drafts as often as they
//! like (optimistic versions: two tabs never overwrite each other silently), signs once, and
//! adds signed addenda after that. Nothing signed is ever changed or deleted: the flows never
//! try, and the database refuses it (migration 0012).
//!
//! `handlers.rs` parses and answers, `service.rs` owns who may do what and the flows,
//! `db.rs` the SQL, `model.rs` the API types and the checks on what is written.

pub mod db;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod service;
