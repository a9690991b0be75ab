//! The Clean Pixel Data masks an operator gives a run (PS3.15 E.3.1): for one device
//! (Manufacturer, optionally Manufacturer's Model Name) and image size, the rectangles where
//! it burns text into its images (a manufacturer of `""` is the instances that name none).
//! On the command line a JSON file (`--masks FILE`), in a
//! job's request the same list (`"masks"`):
//!
//! ```json
//! [{"manufacturer": "ACME", "model": "Echo 3", "rows": 480, "columns": 640,
//!   "rectangles": [{"x": 0, "y": 0, "width": 640, "height": 48}]}]
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use tessera_dicom::deid::{PixelMask, Rect};

use crate::ops::OpsError;

/// Masks in one list at most: a device and size each.
const MOST_MASKS: usize = 1000;
/// Rectangles in one mask at most.
const MOST_RECTANGLES: usize = 100;

/// One mask as the operator writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskSpec {
    pub manufacturer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub rows: u16,
    pub columns: u16,
    pub rectangles: Vec<RectSpec>,
}

/// A rectangle in pixel coordinates: 0-based column `x` and row `y` of its top left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RectSpec {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The masks of a JSON file (a list of [`MaskSpec`]), checked.
pub fn read_file(path: &Path) -> Result<Vec<PixelMask>, OpsError> {
    let text = std::fs::read_to_string(path).map_err(|err| OpsError::file(path, err))?;
    let specs: Vec<MaskSpec> = serde_json::from_str(&text)
        .map_err(|err| OpsError::file(path, format!("not a list of pixel masks: {err}")))?;
    to_engine(&specs).map_err(|err| match err {
        OpsError::Invalid(reason) => OpsError::file(path, reason),
        other => other,
    })
}

/// The engine's masks for these, or why one is not a mask: no size, no rectangle, an empty
/// rectangle or one reaching outside the image.
pub fn to_engine(specs: &[MaskSpec]) -> Result<Vec<PixelMask>, OpsError> {
    if specs.len() > MOST_MASKS {
        return Err(OpsError::Invalid(format!(
            "{} pixel masks; at most {MOST_MASKS}",
            specs.len()
        )));
    }
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let bad = |why: String| OpsError::Invalid(format!("pixel mask {}: {why}", i + 1));
            if spec.rows == 0 || spec.columns == 0 {
                return Err(bad("rows and columns must be above 0".into()));
            }
            if spec.rectangles.is_empty() || spec.rectangles.len() > MOST_RECTANGLES {
                return Err(bad(format!(
                    "it needs 1 to {MOST_RECTANGLES} rectangles, not {}",
                    spec.rectangles.len()
                )));
            }
            let rectangles = spec
                .rectangles
                .iter()
                .map(|r| {
                    let right = u64::from(r.x) + u64::from(r.width);
                    let bottom = u64::from(r.y) + u64::from(r.height);
                    if r.width == 0 || r.height == 0 {
                        Err(bad(format!("rectangle {r:?} is empty")))
                    } else if right > u64::from(spec.columns) || bottom > u64::from(spec.rows) {
                        Err(bad(format!(
                            "rectangle {r:?} reaches outside the {}x{} image",
                            spec.columns, spec.rows
                        )))
                    } else {
                        Ok(Rect {
                            x: r.x,
                            y: r.y,
                            width: r.width,
                            height: r.height,
                        })
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(PixelMask {
                manufacturer: spec.manufacturer.trim().to_string(),
                model: spec
                    .model
                    .as_deref()
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string),
                rows: spec.rows,
                columns: spec.columns,
                rectangles,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rectangles: Vec<RectSpec>) -> MaskSpec {
        MaskSpec {
            manufacturer: " ACME ".into(),
            model: Some("".into()),
            rows: 480,
            columns: 640,
            rectangles,
        }
    }

    fn rect(x: u32, y: u32, width: u32, height: u32) -> RectSpec {
        RectSpec {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn a_mask_reaching_the_edges_is_taken_trimmed() {
        let masks = to_engine(&[spec(vec![rect(0, 0, 640, 48), rect(600, 440, 40, 40)])]).unwrap();
        assert_eq!(masks[0].manufacturer, "ACME");
        assert_eq!(masks[0].model, None);
        assert_eq!(
            masks[0].rectangles[1],
            Rect {
                x: 600,
                y: 440,
                width: 40,
                height: 40
            }
        );
    }

    #[test]
    fn masks_that_mask_nothing_or_too_much_are_refused() {
        for (rectangles, words) in [
            (vec![], "1 to 100 rectangles, not 0"),
            (vec![rect(0, 0, 0, 10)], "is empty"),
            (vec![rect(600, 0, 41, 10)], "outside the 640x480 image"),
            (vec![rect(0, 470, 10, 11)], "outside the 640x480 image"),
            (vec![rect(u32::MAX, 0, 1, 1)], "outside"),
        ] {
            let err = to_engine(&[spec(rectangles)]).unwrap_err().to_string();
            assert!(err.starts_with("pixel mask 1: "), "{err}");
            assert!(err.contains(words), "{err}");
        }
        let mut sizeless = spec(vec![rect(0, 0, 1, 1)]);
        sizeless.rows = 0;
        let err = to_engine(&[sizeless]).unwrap_err().to_string();
        assert!(err.contains("rows and columns must be above 0"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_mask_list_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("masks.json");
        std::fs::write(&path, r#"[{"manufacturer": "ACME", "rows": 4}]"#).unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("masks.json") && err.contains("not a list of pixel masks"),
            "{err}"
        );
        std::fs::write(
            &path,
            r#"[{"manufacturer": "ACME", "rows": 4, "columns": 4, "rectangles": [{"x": 3, "y": 0, "width": 2, "height": 1}]}]"#,
        )
        .unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("masks.json") && err.contains("outside the 4x4 image"),
            "{err}"
        );
    }
}
