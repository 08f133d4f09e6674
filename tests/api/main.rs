//! HTTP-level integration tests: each test starts its own server with its own database
//! (SQLite by default, PostgreSQL when CONSILIUM_TEST_DATABASE_URL is set).

mod audit;
mod auth;
mod chart;
mod cli;
mod diagnosis;
mod fhir;
mod fhir_record;
mod fhir_write;
mod hostile;
mod imaging;
mod load;
mod media;
mod messages;
mod notes;
mod openapi;
mod ops;
mod outcomes;
mod pages;
mod reminders;
mod review_record;
mod reviews;
mod rooms;
mod scheduling;
mod storage;
mod tokens;
mod users;
