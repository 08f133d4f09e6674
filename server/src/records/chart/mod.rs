//! The patient's chart: one timeline of the patient's record for the clinicians who care for
//! them (see `service` for who may open it), and emergency access for the others.

pub mod db;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod service;
