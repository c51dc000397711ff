//! Topic administration: client settings, creating topics, partition counts.

use crate::Error;
use crate::config::Topics;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::info;

pub(crate) fn client_config(brokers: &str, options: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    for (k, v) in options {
        c.set(k, v);
    }
    c
}

/// Creates canary's topics that do not exist yet (others are left as they are).
/// Gives up with [`Error::Stopped`] as soon as `stop` is set: an unreachable
/// broker would otherwise hold a stopping process for the request timeout.
pub fn ensure_topics(
    brokers: &str,
    options: &BTreeMap<String, String>,
    topics: &Topics,
    keyed_partitions: i32,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers, options).create()?;
    let news: Vec<NewTopic<'_>> = topics
        .all(keyed_partitions)
        .into_iter()
        .map(|(name, parts)| NewTopic::new(name, parts, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|source| Error::Io {
            what: "runtime".into(),
            source,
        })?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let mut request = Box::pin(admin.create_topics(&news, &opts));
    let results = loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        let slice = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), &mut request).await
        });
        if let Ok(r) = slice {
            break r?;
        }
    };
    for r in results {
        match r {
            Ok(t) => info!(topic = %t, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => {
                return Err(Error::Topic {
                    topic: t,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Partition count of `topic`, from broker metadata.
pub(crate) fn partition_count(
    brokers: &str,
    options: &BTreeMap<String, String>,
    topic: &str,
    stop: &AtomicBool,
) -> Result<i32, Error> {
    let c: BaseConsumer = client_config(brokers, options).create()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Stopped);
        }
        // Short requests, so a stop is noticed while the broker is away.
        let n = match c.fetch_metadata(Some(topic), Duration::from_secs(1)) {
            Ok(md) => md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .filter(|t| t.error().is_none())
                .map_or(0, |t| t.partitions().len()),
            Err(KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut)) => 0,
            Err(e) => return Err(e.into()),
        };
        if n > 0 {
            return Ok(n as i32);
        }
        if Instant::now() >= deadline {
            return Err(Error::Topic {
                topic: topic.into(),
                message: "no partitions (does the topic exist?)".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
