//! The scan engine, in data-flow order: requests enter the bounded `queue`,
//! the work-stealing `pool` runs `job`s, a job `walk`s folders and
//! `inspect`s files, and verdicts go out to a `report::Sink`.

pub mod inspect;
pub mod job;
pub mod pool;
pub mod queue;
pub mod request;
pub mod walk;
