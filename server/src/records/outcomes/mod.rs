//! Case-review outcomes: for each case on a review's agenda, the presenter, the clinical
//! question, the discussion and a structured recommendation with the clinician responsible for
//! the next step. Drafted by the review's clinicians with optimistic versions (as notes), signed
//! by the coordinator, and never changed after that (migration 0014).

pub mod db;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod service;
