//! The QIDO-RS workload: store a seeded corpus of small metadata-only studies (or discover
//! what an existing archive holds), then run the query mix and report each query type.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::qido_discover;
use super::qido_keys::Keys;
use super::qido_populate::{self, PopulateReport};
use super::qido_run::{self, QueryReport};
use super::qido_synth::Corpus;
use crate::error::BenchError;
use crate::plan::Plan;

#[derive(Debug, Clone, Serialize)]
pub struct QidoReport {
    pub populate: Option<PopulateReport>,
    /// Studies the queries drew from.
    pub studies: usize,
    /// A few keys and their expected matches.
    pub known_keys: Value,
    pub queries: Vec<QueryReport>,
}

impl QidoReport {
    pub fn errors(&self) -> usize {
        self.populate.as_ref().map_or(0, |p| p.errors)
            + self.queries.iter().map(|q| q.errors).sum::<usize>()
    }
}

pub async fn run(client: &reqwest::Client, plan: &Plan) -> Result<QidoReport, BenchError> {
    let (populate, keys) = if plan.populate > 0 && plan.stored {
        let mut corpus = Corpus::new(plan.populate, plan.seed);
        if let Some(root) = &plan.uid_root {
            corpus.uid_root = root.clone();
        }
        println!(
            "tessera-bench qido: {} | --stored: {} metadata-only instances stored earlier, seed {}, UID root {}",
            plan.url, plan.populate, plan.seed, corpus.uid_root
        );
        (None, Keys::from_corpus(&corpus))
    } else if plan.populate > 0 {
        let mut corpus = Corpus::new(plan.populate, plan.seed);
        if let Some(root) = &plan.uid_root {
            corpus.uid_root = root.clone();
        }
        let corpus = Arc::new(corpus);
        println!(
            "tessera-bench qido: {} | populating {} metadata-only instances, seed {}, UID root {}",
            plan.url, plan.populate, plan.seed, corpus.uid_root
        );
        let report = qido_populate::run(client, &plan.url, &corpus, plan.server_pid).await;
        qido_populate::print(&report);
        if report.errors == report.requests {
            let why = report.first_error.unwrap_or_default();
            return Err(BenchError::Failed(format!("populating failed: {why}")));
        }
        (Some(report), Keys::from_corpus(&corpus))
    } else {
        println!(
            "tessera-bench qido: {} | --populate 0: discovering the archive's studies",
            plan.url
        );
        let keys = qido_discover::discover(client, &plan.url, plan.seed)
            .await
            .map_err(BenchError::Failed)?;
        println!(
            "discovered {} studies; series listed for {}, instances for {} series",
            keys.studies.len(),
            keys.with_series.len(),
            keys.with_instance.len()
        );
        (None, keys)
    };
    let known_keys = keys.known();
    println!("known keys: {known_keys}");
    let keys = Arc::new(keys);
    let queries = if plan.queries > 0 {
        let reports = qido_run::run_all(
            client,
            &plan.url,
            &keys,
            plan.queries,
            &plan.qido_concurrencies,
            plan.seed,
            plan.server_pid,
        )
        .await;
        qido_run::print(&reports);
        reports
    } else {
        Vec::new()
    };
    Ok(QidoReport {
        populate,
        studies: keys.studies.len(),
        known_keys,
        queries,
    })
}
