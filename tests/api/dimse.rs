//! The DICOM port at the protocol level, with dicom-rs's upper layer as the peer and raw
//! bytes where the peer must misbehave: C-STORE on every backend (bit-exact data set, the
//! file meta written in front, statuses of refused instances, the audit trail), malformed
//! PDUs each ending in an A-ABORT, silent peers cut off by the ARTIM and idle timers, the
//! association limit, and the roles of known peers. The real-peer tests (dcmtk, pynetdicom)
//! are tests/python/test_dimse_*.py.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dicom_dictionary_std::uids;
use dicom_ul::association::client::AsyncClientAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::{ClientAssociationOptions, Pdu};
use tessera::audit::log::AuditQuery;
use tessera::audit::record::EventType;
use tessera::config::Settings;
use tessera::dimse::command::{Command, Field};
use tessera_dicom::part10;
use tessera_dicom::status::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{read_testdata, Backend, TestApp};

const CT: &str = "CT_small.dcm";

backend_tests! {
    every_index_on_every_store => [c_store_keeps_the_data_set_and_answers_each_case];
}

fn dimse_on(settings: &mut Settings) {
    settings.dimse_listen = Some("127.0.0.1:0".parse().unwrap());
    settings.dimse_idle_timeout = 2;
    settings.dimse_artim_timeout = 1;
}

async fn app(tweak: impl FnOnce(&mut Settings)) -> (TestApp, SocketAddr) {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| {
        dimse_on(s);
        tweak(s);
    })
    .await;
    let addr = app.dimse.expect("the DICOM port is on");
    (app, addr)
}

type Client = AsyncClientAssociation<TcpStream>;

async fn associate(addr: SocketAddr, calling: &str, classes: &[&str]) -> Result<Client, String> {
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title("TESSERA");
    for class in classes {
        options = options.with_presentation_context(
            *class,
            vec![
                uids::EXPLICIT_VR_LITTLE_ENDIAN,
                uids::IMPLICIT_VR_LITTLE_ENDIAN,
            ],
        );
    }
    options
        .establish_async(addr)
        .await
        .map_err(|e| e.to_string())
}

/// The stored file's data set (after the file meta) and the file.
fn data_set(file: &[u8]) -> &[u8] {
    let start = part10::data_set_offset(file).unwrap().unwrap();
    &file[start..]
}

async fn send<S>(
    client: &mut AsyncClientAssociation<S>,
    context: u8,
    command: &Command,
    data: Option<&[u8]>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    client
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command.encode(),
            }],
        })
        .await
        .unwrap();
    if let Some(data) = data {
        let chunks: Vec<&[u8]> = data.chunks(8000).collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            client
                .send(&Pdu::PData {
                    data: vec![PDataValue {
                        presentation_context_id: context,
                        value_type: PDataValueType::Data,
                        is_last: i == last,
                        data: chunk.to_vec(),
                    }],
                })
                .await
                .unwrap();
        }
    }
}

async fn response<S>(client: &mut AsyncClientAssociation<S>) -> Command
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    match tokio::time::timeout(Duration::from_secs(10), client.receive())
        .await
        .expect("a response in time")
        .unwrap()
    {
        Pdu::PData { data } => Command::decode(&data[0].data).unwrap(),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// Send one C-STORE of `data` naming `instance` and return the answer.
async fn c_store(
    client: &mut Client,
    id: u16,
    class: &str,
    instance: &str,
    data: &[u8],
) -> Command {
    let pc = context_of(client, class);
    send(client, pc, &store_request(id, class, instance), Some(data)).await;
    response(client).await
}

/// CT_small: the file, its SOP Class and Instance UIDs.
fn ct() -> (bytes::Bytes, String, String) {
    let file = read_testdata(CT);
    let source = dicom_object::from_reader(std::io::Cursor::new(&file[128..])).unwrap();
    let class = source.meta().media_storage_sop_class_uid().to_string();
    let sop = source.meta().media_storage_sop_instance_uid().to_string();
    (file, class, sop)
}

/// A C-ECHO on context `pc` answers success.
async fn echo_succeeds<S>(client: &mut AsyncClientAssociation<S>, pc: u8)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let mut echo = Command::new(Field::CEchoRq);
    echo.message_id = Some(9);
    echo.affected_sop_class = Some(uids::VERIFICATION.into());
    send(client, pc, &echo, None).await;
    let answer = response(client).await;
    assert_eq!(
        (answer.field, answer.status, answer.responding_to),
        (Field::CEchoRsp, Some(StatusCode::SUCCESS), Some(9))
    );
}

fn store_request(id: u16, class: &str, instance: &str) -> Command {
    let mut command = Command::new(Field::CStoreRq);
    command.message_id = Some(id);
    command.affected_sop_class = Some(class.into());
    command.affected_sop_instance = Some(instance.into());
    command.priority = Some(0);
    command.has_data_set = true;
    command
}

fn context_of(client: &Client, class: &str) -> u8 {
    client
        .presentation_contexts()
        .iter()
        .find(|pc| pc.abstract_syntax == class)
        .map(|pc| pc.id)
        .unwrap()
}

async fn c_store_keeps_the_data_set_and_answers_each_case(backend: Backend) {
    let app = TestApp::spawn_with(backend, dimse_on).await;
    let addr = app.dimse.unwrap();
    let (file, class, sop) = ct();
    let source = dicom_object::from_reader(std::io::Cursor::new(&file[128..])).unwrap();
    let study = source
        .element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string();
    // CT_small is Explicit VR Little Endian: the first context's first syntax.
    assert_eq!(
        source.meta().transfer_syntax(),
        uids::EXPLICIT_VR_LITTLE_ENDIAN
    );
    let mut client = associate(addr, "RUSTSCU", &[&class]).await.unwrap();

    // Stored: success, the data set bit-exact behind a file meta naming the sender.
    let answer = c_store(&mut client, 1, &class, &sop, data_set(&file)).await;
    assert_eq!(answer.field, Field::CStoreRsp);
    assert_eq!(answer.responding_to, Some(1));
    assert_eq!(answer.status, Some(StatusCode::SUCCESS), "{answer:?}");
    let stored = app.stored_bytes(&sop).await;
    assert_eq!(data_set(&stored), data_set(&file));
    let object = dicom_object::from_reader(std::io::Cursor::new(&stored[128..])).unwrap();
    assert_eq!(
        object.meta().transfer_syntax(),
        uids::EXPLICIT_VR_LITTLE_ENDIAN
    );
    assert_eq!(
        object
            .meta()
            .source_application_entity_title
            .as_deref()
            .map(str::trim),
        Some("RUSTSCU")
    );
    assert_eq!(app.counts().await.2, 1);
    // The same ingest path as STOW: the change feed has the instance.
    let changes = app.state.index.changes(0, 10, false).await.unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|c| c.sop_uid.as_str())
            .collect::<Vec<_>>(),
        vec![sop.as_str()]
    );

    // Again: duplicate refused (the default policy), nothing added.
    let answer = c_store(&mut client, 2, &class, &sop, data_set(&file)).await;
    assert_eq!(answer.status, Some(StatusCode::DUPLICATE_SOP_INSTANCE));
    assert!(answer.error_comment.is_some());

    // The command names another instance than the data set: A900, nothing stored.
    let answer = c_store(&mut client, 3, &class, "1.2.3.4.5", data_set(&file)).await;
    assert_eq!(
        answer.status,
        Some(StatusCode::DATA_SET_DOES_NOT_MATCH_SOP_CLASS)
    );
    // Not DICOM at all: C000, the association goes on.
    let answer = c_store(
        &mut client,
        4,
        &class,
        "1.2.3.4.6",
        b"not a data set at all",
    )
    .await;
    assert_eq!(
        answer.status,
        Some(StatusCode::CANNOT_UNDERSTAND),
        "{answer:?}"
    );
    assert_eq!(app.counts().await.2, 1);
    assert_eq!(app.blob_count().await, 1);
    client.release().await.unwrap();

    // The audit trail has the store, by AE title, for the study.
    app.state.trail.flush().await;
    let records = app
        .state
        .audit_log
        .search_audit(&AuditQuery {
            agent: Some("ae:RUSTSCU".into()),
            limit: 50,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let stores: Vec<_> = records
        .iter()
        .filter(|r| r.method == "C-STORE" && r.event == EventType::InstancesTransferred)
        .collect();
    assert!(
        stores
            .iter()
            .any(|r| r.study_uid.as_deref() == Some(study.as_str())
                && r.detail.as_deref().unwrap_or("").contains("0000")),
        "{records:?}"
    );
    assert!(
        stores
            .iter()
            .any(|r| r.detail.as_deref().unwrap_or("").contains("A900")),
        "{records:?}"
    );
    app.stop().await;
}

/// The first byte of the next PDU, or `None` when the connection closed without one.
async fn next_pdu_type(stream: &mut TcpStream, within: Duration) -> Option<u8> {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, stream.read(&mut byte)).await {
        Ok(Ok(1)) => Some(byte[0]),
        Ok(_) => None,
        Err(_) => panic!("the server neither answered nor closed within {within:?}"),
    }
}

/// A valid A-ASSOCIATE-RQ for Verification, as bytes.
fn associate_rq(calling: &str) -> Vec<u8> {
    use dicom_ul::pdu::{AssociationRQ, PresentationContextProposed, UserVariableItem};
    let pdu = Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: calling.into(),
        called_ae_title: "TESSERA".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextProposed {
            id: 1,
            abstract_syntax: uids::VERIFICATION.into(),
            transfer_syntaxes: vec![uids::IMPLICIT_VR_LITTLE_ENDIAN.into()],
        }],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    });
    let mut bytes = Vec::new();
    dicom_ul::write_pdu(&mut bytes, &pdu).unwrap();
    bytes
}

#[tokio::test]
async fn malformed_pdus_end_in_an_abort_and_the_port_keeps_serving() {
    let (app, addr) = app(|_| {}).await;
    let valid = associate_rq("RAW");
    let mut huge_length = valid.clone();
    huge_length[2..6].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    // An item inside claims more bytes than the PDU holds.
    let mut bad_item = valid.clone();
    let item = 6 + 2 + 2 + 16 + 16 + 32; // the application context item's header
    bad_item[item + 2..item + 4].copy_from_slice(&0x7FFFu16.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an unknown PDU type", vec![0x55, 0, 0, 0, 0, 4, 1, 2, 3, 4]),
        (
            "a P-DATA before any association",
            vec![0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 1, 3],
        ),
        ("a PDU length of 4 GiB", huge_length),
        ("an item longer than its PDU", bad_item),
    ];
    for (what, bytes) in cases {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let answer = next_pdu_type(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(
            answer,
            Some(0x07),
            "{what}: expected an A-ABORT, got {answer:?}"
        );
    }

    // Inside an association: a fragment longer than its PDU, a command set that is not one.
    let mut client = associate(addr, "RAW", &[uids::VERIFICATION]).await.unwrap();
    client
        .inner_stream()
        .write_all(&[0x04, 0, 0, 0, 0, 8, 0, 0, 0x10, 0, 1, 3, 0, 0])
        .await
        .unwrap();
    let answer = next_pdu_type(client.inner_stream(), Duration::from_secs(5)).await;
    assert_eq!(answer, Some(0x07), "a PDV longer than its PDU");
    let mut client = associate(addr, "RAW", &[uids::VERIFICATION]).await.unwrap();
    let pc = context_of(&client, uids::VERIFICATION);
    client
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: vec![0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF],
            }],
        })
        .await
        .unwrap();
    let answer = next_pdu_type(client.inner_stream(), Duration::from_secs(5)).await;
    assert_eq!(answer, Some(0x07), "a command set with a 4 GiB element");

    // Half a P-DATA, then silence: an A-ABORT when the idle timer (2 s) expires.
    let mut client = associate(addr, "RAW", &[uids::VERIFICATION]).await.unwrap();
    client
        .inner_stream()
        .write_all(&[0x04, 0, 0, 0, 0, 40, 0, 0, 0, 36, 1, 3, 0, 0])
        .await
        .unwrap();
    let answer = next_pdu_type(client.inner_stream(), Duration::from_secs(6)).await;
    assert_eq!(answer, Some(0x07), "a truncated P-DATA");

    // The port still serves: C-ECHO succeeds.
    let mut client = associate(addr, "RAW", &[uids::VERIFICATION]).await.unwrap();
    let pc = context_of(&client, uids::VERIFICATION);
    echo_succeeds(&mut client, pc).await;
    client.release().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn silent_peers_are_cut_off_and_associations_are_limited() {
    let (app, addr) = app(|s| s.dimse_max_associations = 1).await;

    // Half an A-ASSOCIATE-RQ, then silence: closed when the ARTIM timer (1 s) expires.
    let valid = associate_rq("SLOW");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&valid[..20]).await.unwrap();
    let started = Instant::now();
    assert_eq!(
        next_pdu_type(&mut stream, Duration::from_secs(5)).await,
        None
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // An association that goes silent: aborted after the idle timeout (2 s).
    let mut held = associate(addr, "IDLE", &[uids::VERIFICATION])
        .await
        .unwrap();
    // While it is held, the limit (1) is reached: the next one is rejected, transient,
    // "local limit exceeded" (A-ASSOCIATE-RJ: type 3, result 2, source 3, reason 2).
    let mut second = TcpStream::connect(addr).await.unwrap();
    second.write_all(&associate_rq("SECOND")).await.unwrap();
    let mut reject = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(5), second.read_exact(&mut reject))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (reject[0], reject[7], reject[8], reject[9]),
        (0x03, 2, 3, 2)
    );
    let started = Instant::now();
    let answer = next_pdu_type(held.inner_stream(), Duration::from_secs(6)).await;
    assert_eq!(
        answer,
        Some(0x07),
        "an idle association ends with an A-ABORT"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // The slot is free again.
    let client = associate(addr, "AFTER", &[uids::VERIFICATION]).await;
    assert!(client.is_ok(), "{:?}", client.err());
    client.unwrap().release().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn only_known_peers_and_only_their_roles() {
    let (app, addr) = app(|s| {
        s.dimse_accept_unknown = Some(false);
        s.dimse_peers = vec![
            "READER=127.0.0.1:1/read".into(),
            "MODALITY=127.0.0.1:2/write".into(),
        ];
    })
    .await;
    // An unknown calling AE title: rejected, calling AE title not recognized (source 1,
    // reason 3), and a security alert in the trail.
    let refused = associate(addr, "STRANGER", &[uids::VERIFICATION]).await;
    assert!(refused.is_err());
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(&associate_rq("STRANGER")).await.unwrap();
    let mut reject = [0u8; 10];
    raw.read_exact(&mut reject).await.unwrap();
    assert_eq!(
        (reject[0], reject[7], reject[8], reject[9]),
        (0x03, 1, 1, 3)
    );
    // The wrong called AE title: reason 7.
    let mut wrong = associate_rq("READER");
    wrong[10..26].copy_from_slice(b"SOMEONE_ELSE    ");
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(&wrong).await.unwrap();
    raw.read_exact(&mut reject).await.unwrap();
    assert_eq!((reject[0], reject[9]), (0x03, 7));

    // A reader may not store: 0124, nothing kept.
    let (file, class, sop) = ct();
    let mut reader = associate(addr, "READER", &[&class]).await.unwrap();
    let answer = c_store(&mut reader, 1, &class, &sop, data_set(&file)).await;
    assert_eq!(answer.status, Some(StatusCode::NOT_AUTHORIZED));
    reader.release().await.unwrap();
    assert_eq!(app.counts().await.2, 0);
    // The modality may.
    let mut modality = associate(addr, "MODALITY", &[&class]).await.unwrap();
    let answer = c_store(&mut modality, 1, &class, &sop, data_set(&file)).await;
    assert_eq!(answer.status, Some(StatusCode::SUCCESS));
    modality.release().await.unwrap();
    assert_eq!(app.counts().await.2, 1);

    app.state.trail.flush().await;
    let records = app
        .state
        .audit_log
        .search_audit(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(
        records.iter().any(|r| r.event == EventType::SecurityAlert
            && r.method == "A-ASSOCIATE"
            && r.detail
                .as_deref()
                .unwrap_or("")
                .contains("not a known peer")),
        "{records:?}"
    );
    assert!(
        records.iter().any(|r| r.method == "C-STORE"
            && r.agent.subject.as_deref() == Some("ae:READER")
            && r.detail.as_deref().unwrap_or("").contains("0124")),
        "{records:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn dicom_tls_with_the_https_certificate() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    use std::sync::Arc;
    use tokio_rustls::rustls::crypto::ring::default_provider;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let certs = tempfile::tempdir().unwrap();
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(certs.path().join("key.pem"), made.key_pair.serialize_pem()).unwrap();
    std::fs::write(certs.path().join("cert.pem"), made.cert.pem()).unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let (app, addr) = app(move |s| {
        s.tls_cert = Some(cert);
        s.tls_key = Some(key);
        s.dimse_tls = true;
    })
    .await;
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(made.cert.pem().as_bytes()).unwrap())
        .unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = ClientAssociationOptions::new()
        .calling_ae_title("TLSSCU")
        .called_ae_title("TESSERA")
        .with_abstract_syntax(uids::VERIFICATION)
        .tls_config(config)
        .server_name("localhost")
        .establish_tls_async(addr)
        .await
        .expect("an association inside TLS");
    let pc = client.presentation_contexts()[0].id;
    echo_succeeds(&mut client, pc).await;
    client.release().await.unwrap();
    // In clear text the port does not associate.
    let plain = tokio::time::timeout(
        Duration::from_secs(5),
        associate(addr, "PLAIN", &[uids::VERIFICATION]),
    )
    .await
    .expect("refused within the ARTIM timeout");
    assert!(plain.is_err());
    app.stop().await;
}

#[tokio::test]
async fn a_c_cancel_sent_with_the_c_find_stops_it_before_any_match() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_encoding::TransferSyntaxIndex;
    use dicom_object::InMemDicomObject;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

    let (app, addr) = app(|_| {}).await;
    let (file, class, sop) = ct();
    let find = uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND;
    let mut client = associate(addr, "CANCELLER", &[&class, find]).await.unwrap();
    assert_eq!(
        c_store(&mut client, 1, &class, &sop, data_set(&file))
            .await
            .status,
        Some(StatusCode::SUCCESS)
    );
    let pc = client
        .presentation_contexts()
        .iter()
        .find(|pc| pc.abstract_syntax == find)
        .cloned()
        .unwrap();
    let mut query = InMemDicomObject::new_empty();
    for (tag, vr, value) in [
        (tags::QUERY_RETRIEVE_LEVEL, VR::CS, "IMAGE"),
        (tags::SOP_INSTANCE_UID, VR::UI, ""),
    ] {
        query.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    let mut identifier = Vec::new();
    query
        .write_dataset_with_ts(
            &mut identifier,
            TransferSyntaxRegistry.get(&pc.transfer_syntax).unwrap(),
        )
        .unwrap();
    let mut request = Command::new(Field::CFindRq);
    request.message_id = Some(7);
    request.affected_sop_class = Some(find.into());
    request.priority = Some(0);
    request.has_data_set = true;
    let mut cancel = Command::new(Field::CCancelRq);
    cancel.responding_to = Some(7);
    // The request, its identifier and the cancel in one P-DATA: the cancel is there before
    // the first match could be sent.
    client
        .send(&Pdu::PData {
            data: vec![
                PDataValue {
                    presentation_context_id: pc.id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: request.encode(),
                },
                PDataValue {
                    presentation_context_id: pc.id,
                    value_type: PDataValueType::Data,
                    is_last: true,
                    data: identifier,
                },
                PDataValue {
                    presentation_context_id: pc.id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: cancel.encode(),
                },
            ],
        })
        .await
        .unwrap();
    let answer = response(&mut client).await;
    assert_eq!(answer.field, Field::CFindRsp);
    assert_eq!(answer.status, Some(StatusCode::CANCEL), "{answer:?}");
    assert_eq!(answer.responding_to, Some(7));
    // Without the cancel the same query finds the instance.
    send(
        &mut client,
        pc.id,
        &request,
        Some(&{
            let mut bytes = Vec::new();
            query
                .write_dataset_with_ts(
                    &mut bytes,
                    TransferSyntaxRegistry.get(&pc.transfer_syntax).unwrap(),
                )
                .unwrap();
            bytes
        }),
    )
    .await;
    let first = response(&mut client).await;
    assert_eq!(first.status, Some(StatusCode::PENDING));
    let last = response(&mut client).await;
    assert_eq!(last.status, Some(StatusCode::SUCCESS));
    client.release().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn c_store_under_keep_first_and_over_the_size_limit() {
    use tessera::config::ByteSize;
    use tessera::index::DuplicatePolicy;

    let (file, class, sop) = ct();
    // keep-first: the second copy is answered B000 with the reason, the first kept.
    let (keeper, addr) = app(|s| s.duplicate_policy = DuplicatePolicy::KeepFirst).await;
    let mut client = associate(addr, "KEEPER", &[&class]).await.unwrap();
    let answer = c_store(&mut client, 1, &class, &sop, data_set(&file)).await;
    assert_eq!(answer.status, Some(StatusCode::SUCCESS));
    let answer = c_store(&mut client, 2, &class, &sop, data_set(&file)).await;
    assert_eq!(answer.status, Some(StatusCode::COERCION_OF_DATA_ELEMENTS));
    assert!(
        answer
            .error_comment
            .as_deref()
            .unwrap_or("")
            .contains("already stored"),
        "{answer:?}"
    );
    client.release().await.unwrap();
    assert_eq!((keeper.counts().await.2, keeper.blob_count().await), (1, 1));
    keeper.stop().await;

    // Larger than --max-instance-size: A700 with the reason, nothing stored or staged, and the
    // association goes on.
    let (small, addr) = app(|s| s.max_instance_size = ByteSize(1_000)).await;
    let mut client = associate(addr, "BIG", &[&class, uids::VERIFICATION])
        .await
        .unwrap();
    let answer = c_store(&mut client, 1, &class, &sop, data_set(&file)).await;
    assert_eq!(answer.status, Some(StatusCode::OUT_OF_RESOURCES));
    assert!(
        answer
            .error_comment
            .as_deref()
            .unwrap_or("")
            .contains("larger than the maximum"),
        "{answer:?}"
    );
    let pc = context_of(&client, uids::VERIFICATION);
    echo_succeeds(&mut client, pc).await;
    client.release().await.unwrap();
    assert_eq!((small.counts().await.2, small.blob_count().await), (0, 0));
    assert_eq!(small.staging_files(), 0);
    small.stop().await;
}
