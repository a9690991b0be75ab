//! Query parameters of rendered resources (PS3.18 8.3.5.1): `quality`, `window`,
//! `viewport`. `annotation`, `iccprofile` and `charset` are accepted and ignored (nothing is
//! burnt in, no ICC profile is embedded); other names are ignored as the standard allows.

use super::info::{VoiFunction, Window};
use crate::frames::FrameError;

/// JPEG quality when the request gives none.
pub const DEFAULT_QUALITY: u8 = 90;
/// Largest viewport side served.
pub const MAX_VIEWPORT: u32 = 8192;
/// Thumbnail size when the request gives no viewport (fit within, aspect kept).
pub const THUMBNAIL_VIEWPORT: (u32, u32) = (128, 128);

#[derive(Debug, Clone, PartialEq)]
pub struct RenderParams {
    /// 1–100, for JPEG.
    pub quality: u8,
    /// Overrides the data set's window.
    pub window: Option<Window>,
    /// Scale to fit within (width, height), aspect ratio kept.
    pub viewport: Option<(u32, u32)>,
}

impl Default for RenderParams {
    fn default() -> Self {
        RenderParams {
            quality: DEFAULT_QUALITY,
            window: None,
            viewport: None,
        }
    }
}

fn bad(name: &str, value: &str, expected: &str) -> FrameError {
    FrameError::BadRequest(format!("{name}={value:?}: expected {expected}"))
}

/// Parse the query pairs of a rendered or thumbnail request.
pub fn parse(pairs: &[(String, String)]) -> Result<RenderParams, FrameError> {
    let mut params = RenderParams::default();
    for (name, value) in pairs {
        match name.as_str() {
            "quality" => {
                params.quality = value
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or_else(|| bad(name, value, "an integer from 1 to 100"))?;
            }
            "window" => params.window = Some(parse_window(value)?),
            "viewport" => params.viewport = Some(parse_viewport(value)?),
            _ => {}
        }
    }
    Ok(params)
}

fn parse_window(value: &str) -> Result<Window, FrameError> {
    let expected = "center,width[,linear|linear-exact|sigmoid] with width > 0";
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad("window", value, expected));
    }
    let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    let (Some(center), Some(width)) = (number(parts[0]), number(parts[1])) else {
        return Err(bad("window", value, expected));
    };
    let function = match parts.get(2) {
        None => VoiFunction::Linear,
        Some(f) => VoiFunction::parse(f).ok_or_else(|| bad("window", value, expected))?,
    };
    let minimum = if function == VoiFunction::Linear {
        1.0
    } else {
        f64::MIN_POSITIVE
    };
    if width < minimum {
        return Err(bad("window", value, expected));
    }
    Ok(Window {
        center,
        width,
        function,
    })
}

fn parse_viewport(value: &str) -> Result<(u32, u32), FrameError> {
    let expected = "width,height, positive integers up to 8192";
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    let side = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|v| (1..=MAX_VIEWPORT).contains(v))
    };
    match parts.as_slice() {
        [w, h] => match (side(w), side(h)) {
            (Some(w), Some(h)) => Ok((w, h)),
            _ => Err(bad("viewport", value, expected)),
        },
        _ => Err(bad("viewport", value, expected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Result<RenderParams, FrameError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&pairs)
    }

    #[test]
    fn parses_and_rejects() {
        let r = p(&[
            ("quality", "75"),
            ("window", "40,400,SIGMOID"),
            ("viewport", "64,32"),
            ("annotation", "patient"),
        ])
        .unwrap();
        assert_eq!(r.quality, 75);
        assert_eq!(r.window.unwrap().function, VoiFunction::Sigmoid);
        assert_eq!(r.viewport, Some((64, 32)));
        assert_eq!(
            p(&[("window", "-600,1500,linear-exact")])
                .unwrap()
                .window
                .unwrap()
                .function,
            VoiFunction::LinearExact
        );
        for bad in [
            ("quality", "0"),
            ("quality", "101"),
            ("quality", "x"),
            ("window", "40"),
            ("window", "40,0"),
            ("window", "40,400,cubic"),
            ("window", "a,b"),
            ("viewport", "0,10"),
            ("viewport", "10"),
            ("viewport", "10,10,1,1"),
            ("viewport", "99999,10"),
        ] {
            assert!(p(&[bad]).is_err(), "{bad:?}");
        }
    }
}
