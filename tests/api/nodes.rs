//! Deployment-shaped tests: restart, two stateless nodes on one PostgreSQL and one S3 bucket,
//! and health when a store is down.

use std::sync::Arc;

use bytes::Bytes;
use tessera_dicom::uid::SopInstanceUid;

use crate::helpers::*;
use crate::suite::{ct_variant, ct_variant_uid};

#[tokio::test]
async fn restart_keeps_everything() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    let parts: Vec<Bytes> = (1..=3).map(ct_variant).collect();
    assert_eq!(StowResult::from(app.stow(&parts).await).await.status, 200);
    let settings = app.settings.clone();
    let dir = Arc::clone(&app.dir);
    app.stop().await;

    let app = TestApp::start(settings, dir).await;
    assert_eq!(app.counts().await, (1, 1, 3));
    for (n, part) in (1..=3).zip(&parts) {
        let sop = SopInstanceUid::parse(&ct_variant_uid(n)).unwrap();
        let row = app.state.index.instance(&sop).await.unwrap().unwrap();
        assert!(app.state.store.get(&row.blob_key).await.unwrap() == part);
    }
    // The duplicate check still knows them.
    let result = StowResult::from(app.stow(&parts[..1]).await).await;
    assert_eq!(result.failure_reasons(), vec![0x0111]);
}

#[tokio::test]
async fn two_nodes_share_postgres_and_s3() {
    let a = TestApp::spawn(Backend::POSTGRES_S3).await;
    let b = TestApp::start(a.settings.clone(), Arc::clone(&a.dir)).await;
    assert_ne!(a.base, b.base);

    // Stored through A, seen through B: index row and exact bytes.
    let first = ct_variant(1);
    assert_eq!(
        StowResult::from(a.stow(std::slice::from_ref(&first)).await)
            .await
            .status,
        200
    );
    let sop = SopInstanceUid::parse(&ct_variant_uid(1)).unwrap();
    let row = b
        .state
        .index
        .instance(&sop)
        .await
        .unwrap()
        .expect("B sees A's instance");
    assert!(b.state.store.get(&row.blob_key).await.unwrap() == first);
    let result = StowResult::from(b.stow(std::slice::from_ref(&first)).await).await;
    assert_eq!(
        result.failure_reasons(),
        vec![0x0111],
        "B knows the instance is stored"
    );

    // Both nodes write the same study at once: counts stay exact.
    let writes = (0..20).map(|n| {
        let node = if n % 2 == 0 { &a } else { &b };
        async move { node.stow(&[ct_variant(100 + n)]).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(writes).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let study = a
        .study("1.3.6.1.4.1.5962.1.2.1.20040119072730.12322")
        .await
        .unwrap();
    assert_eq!(study.num_instances, 21);
    assert_eq!(a.counts().await, (1, 1, 21));
    assert_eq!(b.blob_count().await, 21);
    // Health on both.
    for node in [&a, &b] {
        let response = node.client.get(node.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
}

#[tokio::test]
async fn health_is_503_when_the_blob_store_is_down() {
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| {
        s.storage_url = Some("s3://nobucket?endpoint=http://127.0.0.1:9&region=garage".into());
    })
    .await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["index"], "ok");
    assert_eq!(body["storage"], "unavailable");
    // A STOW then answers 503 with Retry-After, and stores nothing.
    let response = app.stow(&[ct_variant(1)]).await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(app.counts().await, (0, 0, 0));
}
