//! Rendered resources and thumbnails (PS3.18 10.4.1.1.3, 8.3.5) through HTTP against the
//! real app, on the SQLite and the PostgreSQL index (memory blob store): the returned
//! PNG/JPEG is decoded and compared with the window computed here from pydicom's pixels
//! (PS3.3 C.11.2.1.2).

use image::DynamicImage;

use crate::helpers::*;
use crate::pixels::*;

backend_tests! {
    every_index_in_memory => [
        greyscale_windows,
        colour_images,
        viewports_thumbnails_and_multiframe,
        study_and_series,
        bad_parameters_and_missing_things,
    ];
}

const PNG: &str = "image/png";

async fn image_of(app: &TestApp, path: &str, accept: Option<&str>, want: &str) -> DynamicImage {
    let response = get(app, path, accept).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(content_type(&response), want, "{path}");
    image::load_from_memory(&response.bytes().await.unwrap()).unwrap()
}

async fn png(app: &TestApp, path: &str) -> DynamicImage {
    image_of(app, path, Some(PNG), PNG).await
}

/// Grey levels expected from modality values through a window (PS3.3 C.11.2.1.2).
fn window(values: &[f64], center: f64, width: f64, function: &str) -> Vec<f64> {
    values
        .iter()
        .map(|&x| match function {
            "linear" => {
                let (lo, hi) = (
                    center - 0.5 - (width - 1.0) / 2.0,
                    center - 0.5 + (width - 1.0) / 2.0,
                );
                if x <= lo {
                    0.0
                } else if x > hi {
                    255.0
                } else {
                    ((x - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
                }
            }
            "linear-exact" => {
                if x <= center - width / 2.0 {
                    0.0
                } else if x > center + width / 2.0 {
                    255.0
                } else {
                    ((x - center) / width + 0.5) * 255.0
                }
            }
            "sigmoid" => 255.0 / (1.0 + (-4.0 * (x - center) / width).exp()),
            other => panic!("{other}"),
        })
        .collect()
}

/// Modality values of a single-frame greyscale file, from pydicom.
fn modality(name: &str, slope: f64, intercept: f64) -> Vec<f64> {
    let r = reference();
    let dtype = r.entry(name)["dtype"].as_str().unwrap().to_string();
    samples(&r.frame(name, 1), &dtype)
        .iter()
        .map(|&v| v as f64 * slope + intercept)
        .collect()
}

/// Every grey level within 1 of the expected one.
fn assert_grey(image: &DynamicImage, expected: &[f64], context: &str) {
    let grey = image.to_luma8();
    assert_eq!(grey.len(), expected.len(), "{context}");
    let worst = grey
        .iter()
        .zip(expected)
        .map(|(&g, &e)| (f64::from(g) - e.round()).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1.0, "{context}: a grey level is {worst} away");
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / n as f64
}

/// A testdata file with some byte strings replaced by ones of the same length.
fn variant(name: &str, replacements: &[(&str, &str)]) -> bytes::Bytes {
    let mut data = read_testdata(name).to_vec();
    for (from, to) in replacements {
        assert_eq!(from.len(), to.len());
        let at = data
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{from} not in {name}"));
        data[at..at + to.len()].copy_from_slice(to.as_bytes());
        // Replace every occurrence (UIDs appear in the meta group and the data set).
        while let Some(next) = data.windows(from.len()).position(|w| w == from.as_bytes()) {
            data[next..next + to.len()].copy_from_slice(to.as_bytes());
        }
    }
    bytes::Bytes::from(data)
}

pub async fn greyscale_windows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    store(&app, "CT_small.dcm").await;
    store(&app, "MR_small.dcm").await;
    let ct = instance_path("CT_small.dcm");
    let mr = instance_path("MR_small.dcm");

    // CT: signed 16-bit, rescale -1024, no window: stretched from min to max.
    let values = modality("CT_small.dcm", 1.0, -1024.0);
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let stretched = window(&values, (lo + hi) / 2.0, hi - lo, "linear-exact");
    let image = png(&app, &format!("{ct}/rendered")).await;
    assert_eq!((image.width(), image.height()), (128, 128));
    assert_grey(&image, &stretched, "CT min/max");
    let reference_mean = mean(stretched.iter().map(|v| v.round()));

    // The window parameter, each function.
    for (param, c, w, f) in [
        ("40,400", 40.0, 400.0, "linear"),
        ("40,400,sigmoid", 40.0, 400.0, "sigmoid"),
        ("300,1500,LINEAR_EXACT", 300.0, 1500.0, "linear-exact"),
    ] {
        let image = png(&app, &format!("{ct}/rendered?window={param}")).await;
        assert_grey(&image, &window(&values, c, w, f), param);
    }

    // MR: the data set's window (600/1600, linear).
    let mr_values = modality("MR_small.dcm", 1.0, 0.0);
    let mr_image = png(&app, &format!("{mr}/rendered")).await;
    assert_grey(
        &mr_image,
        &window(&mr_values, 600.0, 1600.0, "linear"),
        "MR",
    );

    // MONOCHROME1 is the inverse.
    let sop = expected()["MR_small.dcm"]["sop_instance_uid"]
        .as_str()
        .unwrap()
        .to_string();
    let inverted_sop = format!("{}9", &sop[..sop.len() - 1]);
    assert_ne!(sop, inverted_sop);
    let mono1 = variant(
        "MR_small.dcm",
        &[("MONOCHROME2", "MONOCHROME1"), (&sop, &inverted_sop)],
    );
    assert_eq!(app.stow_one(&mono1).await.status, 200);
    let mono1_path = mr.replace(&sop, &inverted_sop);
    let inverted = png(&app, &format!("{mono1_path}/rendered")).await;
    for (a, b) in inverted.to_luma8().iter().zip(mr_image.to_luma8().iter()) {
        assert_eq!(u16::from(*a) + u16::from(*b), 255);
    }

    // JPEG by default, quality honoured, grey level close to the PNG's.
    let jpeg = image_of(&app, &format!("{ct}/rendered"), None, "image/jpeg").await;
    assert_eq!((jpeg.width(), jpeg.height()), (128, 128));
    let jpeg_mean = mean(jpeg.to_luma8().iter().map(|&g| f64::from(g)));
    assert!(
        (jpeg_mean - reference_mean).abs() < 1.5,
        "{jpeg_mean} vs {reference_mean}"
    );
    let size = |q: u32| {
        let path = format!("{ct}/rendered?quality={q}");
        let app = &app;
        async move {
            get(app, &path, Some("image/jpeg"))
                .await
                .bytes()
                .await
                .unwrap()
                .len()
        }
    };
    assert!(size(10).await < size(95).await);
    // A few pixels of a JPEG follow the window too.
    let grey = jpeg.to_luma8();
    for (x, y) in [(10u32, 10u32), (64, 64), (100, 30), (30, 100)] {
        let want = stretched[(y * 128 + x) as usize];
        let got = f64::from(grey.get_pixel(x, y)[0]);
        assert!((got - want).abs() <= 8.0, "({x},{y}): {got} vs {want}");
    }

    // Frame level rendered is the same image; `accept` query parameter picks PNG.
    let a = get(
        &app,
        &format!("{ct}/frames/1/rendered?accept=image/png"),
        None,
    )
    .await;
    assert_eq!(content_type(&a), PNG);
    let b = get(&app, &format!("{ct}/rendered"), Some(PNG)).await;
    assert_eq!(a.bytes().await.unwrap(), b.bytes().await.unwrap());
}

fn rgb_samples(image: &DynamicImage) -> Vec<i64> {
    image.to_rgb8().iter().map(|&v| i64::from(v)).collect()
}

pub async fn colour_images(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = reference();
    let cases: [(&str, u32, Option<i64>); 8] = [
        ("examples_rgb_color.dcm", 1, None),
        ("ExplVR_BigEnd.dcm", 1, None),
        ("SC_rgb_rle_2frame.dcm", 2, None),
        ("examples_jpeg2k.dcm", 1, None),
        ("SC_rgb_jpeg_dcmtk.dcm", 1, Some(3)),
        ("SC_rgb_dcmtk_+eb+cy+np.dcm", 1, Some(3)),
        ("SC_jpeg_no_color_transform.dcm", 1, Some(3)),
        ("SC_ybr_full_422_uncompressed.dcm", 1, Some(2)),
    ];
    for (name, frame, tolerance) in cases {
        store(&app, name).await;
        let image = png(
            &app,
            &format!("{}/frames/{frame}/rendered", instance_path(name)),
        )
        .await;
        let theirs = samples(&r.frame(name, frame), "uint8");
        compare_samples(&rgb_samples(&image), &theirs, tolerance, name).unwrap();
    }
    store(&app, "examples_palette.dcm").await;
    let image = png(
        &app,
        &format!("{}/rendered", instance_path("examples_palette.dcm")),
    )
    .await;
    assert_eq!((image.width(), image.height()), (800, 350));
    let theirs = samples(&r.palette_rgb("examples_palette.dcm", 1), "uint8");
    compare_samples(&rgb_samples(&image), &theirs, None, "palette").unwrap();
    // JPEG output of a colour image is colour.
    let jpeg = image_of(
        &app,
        &format!("{}/rendered", instance_path("examples_rgb_color.dcm")),
        Some("image/jpeg"),
        "image/jpeg",
    )
    .await;
    assert!(matches!(jpeg, DynamicImage::ImageRgb8(_)));
}

pub async fn viewports_thumbnails_and_multiframe(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["CT_small.dcm", "JPEG2000.dcm", "examples_ybr_color.dcm"] {
        store(&app, name).await;
    }
    let ct = instance_path("CT_small.dcm");
    let nm = instance_path("JPEG2000.dcm");
    let us = instance_path("examples_ybr_color.dcm");
    let size = |i: &DynamicImage| (i.width(), i.height());

    assert_eq!(
        size(&png(&app, &format!("{ct}/rendered?viewport=64,32")).await),
        (32, 32)
    );
    assert_eq!(
        size(&png(&app, &format!("{ct}/rendered?viewport=300,200")).await),
        (200, 200)
    );
    assert_eq!(
        size(&png(&app, &format!("{nm}/rendered?viewport=128,128")).await),
        (32, 128)
    );
    assert_eq!(
        size(&png(&app, &format!("{nm}/rendered")).await),
        (256, 1024)
    );
    // A scaled greyscale image keeps its mean grey level.
    let full = png(&app, &format!("{ct}/rendered")).await;
    let half = png(&app, &format!("{ct}/rendered?viewport=64,64")).await;
    let (a, b) = (
        mean(full.to_luma8().iter().map(|&g| f64::from(g))),
        mean(half.to_luma8().iter().map(|&g| f64::from(g))),
    );
    assert!((a - b).abs() < 1.0, "{a} vs {b}");

    // Thumbnails: 128×128 box by default, JPEG by default.
    let thumb = image_of(&app, &format!("{ct}/thumbnail"), None, "image/jpeg").await;
    assert_eq!(size(&thumb), (128, 128));
    assert_eq!(
        size(&image_of(&app, &format!("{nm}/thumbnail"), None, "image/jpeg").await),
        (32, 128)
    );
    assert_eq!(
        size(&png(&app, &format!("{us}/thumbnail?viewport=64,64")).await),
        (64, 48)
    );

    // Multi-frame: every frame as multipart when multipart is accepted, else the first.
    let r = get(
        &app,
        &format!("{us}/rendered"),
        Some("multipart/related; type=\"image/png\""),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ct_header = content_type(&r);
    let parts = parse_multipart(&ct_header, PNG, &r.bytes().await.unwrap());
    assert_eq!(parts.len(), 30);
    for part in &parts {
        assert_eq!(part.content_type, PNG);
        let image = image::load_from_memory(&part.body).unwrap();
        assert_eq!(size(&image), (320, 240));
    }
    let single = get(&app, &format!("{us}/rendered"), Some(PNG)).await;
    assert_eq!(content_type(&single), PNG);
    assert_eq!(single.bytes().await.unwrap(), parts[0].body);
    let r = get(&app, &format!("{us}/frames/2,5/rendered"), None).await;
    let ct_header = content_type(&r);
    let two = parse_multipart(&ct_header, "image/jpeg", &r.bytes().await.unwrap());
    assert_eq!(two.len(), 2);

    // The instance thumbnail is the middle frame; a frame thumbnail is that frame.
    let thumb = get(&app, &format!("{us}/thumbnail"), Some(PNG))
        .await
        .bytes()
        .await
        .unwrap();
    let middle = get(
        &app,
        &format!("{us}/frames/15/rendered?viewport=128,128"),
        Some(PNG),
    )
    .await
    .bytes()
    .await
    .unwrap();
    assert_eq!(thumb, middle);
    let frame_thumb = get(&app, &format!("{us}/frames/3/thumbnail"), Some(PNG))
        .await
        .bytes()
        .await
        .unwrap();
    let frame_three = get(
        &app,
        &format!("{us}/frames/3/rendered?viewport=128,128"),
        Some(PNG),
    )
    .await
    .bytes()
    .await
    .unwrap();
    assert_eq!(frame_thumb, frame_three);
    assert_ne!(frame_thumb, thumb);
}

pub async fn study_and_series(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let e = expected();
    let series = e["SC_rgb_jpeg_dcmtk.dcm"]["series_instance_uid"]
        .as_str()
        .unwrap();
    let study = e["SC_rgb_jpeg_dcmtk.dcm"]["study_instance_uid"]
        .as_str()
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for (name, item) in e.as_object().unwrap() {
        if item["series_instance_uid"] == series && seen.insert(item["sop_instance_uid"].clone()) {
            store(&app, name).await;
        }
    }
    assert!(seen.len() >= 5);
    let series_path = format!("/dicom-web/studies/{study}/series/{series}");

    let r = get(&app, &format!("{series_path}/rendered"), None).await;
    assert_eq!(r.status(), 200);
    let ct = content_type(&r);
    let parts = parse_multipart(&ct, "image/jpeg", &r.bytes().await.unwrap());
    assert_eq!(parts.len(), seen.len());
    for part in &parts {
        image::load_from_memory(&part.body).unwrap();
    }
    let r = get(
        &app,
        &format!("/dicom-web/studies/{study}/rendered"),
        Some("multipart/related; type=image/png"),
    )
    .await;
    let ct = content_type(&r);
    assert_eq!(
        parse_multipart(&ct, PNG, &r.bytes().await.unwrap()).len(),
        seen.len()
    );
    let one = image_of(&app, &format!("{series_path}/rendered"), Some(PNG), PNG).await;
    assert!(one.width() > 0);

    for path in [
        format!("{series_path}/thumbnail"),
        format!("/dicom-web/studies/{study}/thumbnail"),
    ] {
        let thumb = image_of(&app, &path, None, "image/jpeg").await;
        assert!(
            thumb.width() <= 128
                && thumb.height() <= 128
                && thumb.width().max(thumb.height()) == 128
        );
    }
    for path in [
        "/dicom-web/studies/1.2.3/rendered".to_string(),
        "/dicom-web/studies/1.2.3/thumbnail".to_string(),
        format!("/dicom-web/studies/{study}/series/1.2.3/thumbnail"),
    ] {
        assert_eq!(get(&app, &path, None).await.status(), 404, "{path}");
    }
}

pub async fn bad_parameters_and_missing_things(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in [
        "CT_small.dcm",
        "rtplan.dcm",
        "JPGExtended.dcm",
        "JPEG2000.dcm",
    ] {
        store(&app, name).await;
    }
    let ct = instance_path("CT_small.dcm");
    let cases: Vec<(String, Option<&str>, u16)> = vec![
        (format!("{ct}/rendered?quality=0"), None, 400),
        (format!("{ct}/rendered?quality=101"), None, 400),
        (format!("{ct}/rendered?quality=high"), None, 400),
        (format!("{ct}/rendered?window=40"), None, 400),
        (format!("{ct}/rendered?window=40,0"), None, 400),
        (format!("{ct}/rendered?window=40,400,cubic"), None, 400),
        (format!("{ct}/rendered?viewport=0,10"), None, 400),
        (format!("{ct}/rendered?viewport=10"), None, 400),
        (format!("{ct}/thumbnail?viewport=a,b"), None, 400),
        (format!("{ct}/frames/0/rendered"), None, 400),
        (format!("{ct}/frames/x/thumbnail"), None, 400),
        ("/dicom-web/studies/1.2.x/rendered".to_string(), None, 400),
        (format!("{ct}/rendered"), Some("image/gif"), 406),
        (format!("{ct}/rendered"), Some("application/dicom"), 406),
        (format!("{ct}/frames/2/rendered"), None, 404),
        (format!("{ct}/frames/2/thumbnail"), None, 404),
        (
            format!("{}/rendered", instance_path("rtplan.dcm")),
            None,
            404,
        ),
        (
            format!("{}/thumbnail", instance_path("rtplan.dcm")),
            None,
            404,
        ),
        // 12-bit JPEG: no decoder here, so no rendering either.
        (
            format!("{}/rendered", instance_path("JPGExtended.dcm")),
            None,
            406,
        ),
        (
            format!("{ct}/rendered?quality=50&window=40,400&viewport=10,10&annotation=patient"),
            None,
            200,
        ),
    ];
    for (path, accept, want) in cases {
        let r = get(&app, &path, accept).await;
        assert_eq!(r.status().as_u16(), want, "{path} {accept:?}");
    }
    // A study rendered leaves out what cannot be decoded (JPGExtended) and keeps the rest.
    let study = expected()["JPGExtended.dcm"]["study_instance_uid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(study, expected()["JPEG2000.dcm"]["study_instance_uid"]);
    let r = get(
        &app,
        &format!("/dicom-web/studies/{study}/rendered"),
        Some("multipart/related; type=\"image/png\""),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ct = content_type(&r);
    let parts = parse_multipart(&ct, PNG, &r.bytes().await.unwrap());
    assert_eq!(parts.len(), 1);
    let only = image::load_from_memory(&parts[0].body).unwrap();
    assert_eq!((only.width(), only.height()), (256, 1024));
}
