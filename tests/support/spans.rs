//! A `tracing` subscriber for tests: records every span's fields, so a test can read what an
//! operation reported (its `operation`, `tenant`, `attempts`, what a resolve did) and count the
//! retry events, instead of timing it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The spans recorded, in order, each with its fields; and the messages of the events.
#[derive(Default, Clone)]
pub struct Spans {
    spans: Arc<Mutex<Vec<HashMap<String, String>>>>,
    events: Arc<Mutex<Vec<String>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Spans {
    /// Runs `f` with this recorder as the thread's subscriber.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::subscriber::with_default(self.clone(), f)
    }

    /// The fields of every span of `operation`, in order.
    pub fn of(&self, operation: &str) -> Vec<HashMap<String, String>> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.get("operation").map(String::as_str) == Some(operation))
            .cloned()
            .collect()
    }

    /// How many times each span of `operation` ran its transaction.
    pub fn attempts(&self, operation: &str) -> Vec<u32> {
        self.of(operation)
            .iter()
            .map(|f| f.get("attempts").and_then(|a| a.parse().ok()).unwrap_or(0))
            .collect()
    }

    /// The messages of the events recorded.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut spans = self.spans.lock().unwrap();
        let mut fields = HashMap::from([("name".to_string(), span.metadata().name().to_string())]);
        span.record(&mut Fields(&mut fields));
        spans.push(fields);
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let fields = &mut spans[span.into_u64() as usize - 1];
        values.record(&mut Fields(fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events
            .lock()
            .unwrap()
            .push(fields.remove("message").unwrap_or_default());
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
