//! The profile a run applies: the Basic Application Level Confidentiality Profile (PS3.15
//! E.2) with the options named on the command line or in the job's request, the project's
//! secret, whether burned-in text may pass, and the pixel masks.

use tessera_dicom::deid::{Dates, Options, PixelMask, PixelPolicy, Profile, Secret};

use crate::ops::OpsError;

/// The names of the ten options of PS3.15 Table E.1-1, as the command and the jobs take them.
pub const OPTION_NAMES: [&str; 10] = [
    "retain-safe-private",
    "retain-uids",
    "retain-device-identity",
    "retain-institution-identity",
    "retain-patient-characteristics",
    "retain-longitudinal-full-dates",
    "retain-longitudinal-modified-dates",
    "clean-descriptors",
    "clean-structured-content",
    "clean-graphics",
];

/// The options named (each once at most; the two date options exclude each other).
pub fn parse(names: &[String]) -> Result<Options, OpsError> {
    let mut options = Options::default();
    let mut seen: Vec<&str> = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if seen.contains(&name) {
            return Err(OpsError::Invalid(format!("option {name:?} is named twice")));
        }
        seen.push(name);
        let dates = |options: &mut Options, dates: Dates| {
            if options.dates != Dates::Remove {
                return Err(OpsError::Invalid(
                    "retain-longitudinal-full-dates and retain-longitudinal-modified-dates \
                     exclude each other (PS3.15 E.3.6)"
                        .into(),
                ));
            }
            options.dates = dates;
            Ok(())
        };
        match name {
            "retain-safe-private" => options.retain_safe_private = true,
            "retain-uids" => options.retain_uids = true,
            "retain-device-identity" => options.retain_device_identity = true,
            "retain-institution-identity" => options.retain_institution_identity = true,
            "retain-patient-characteristics" => options.retain_patient_characteristics = true,
            "retain-longitudinal-full-dates" => dates(&mut options, Dates::RetainFull)?,
            "retain-longitudinal-modified-dates" => dates(&mut options, Dates::RetainModified)?,
            "clean-descriptors" => options.clean_descriptors = true,
            "clean-structured-content" => options.clean_structured_content = true,
            "clean-graphics" => options.clean_graphics = true,
            other => {
                return Err(OpsError::Invalid(format!(
                    "unknown de-identification option {other:?} (one of {})",
                    OPTION_NAMES.join(", ")
                )))
            }
        }
    }
    Ok(options)
}

/// The option names of `options`, in the table's order (for records and the run's row).
pub fn names(options: &Options) -> Vec<&'static str> {
    OPTION_NAMES
        .into_iter()
        .filter(|name| parse(&[name.to_string()]).is_ok_and(|one| covers(options, &one)))
        .collect()
}

/// Whether every option chosen in `one` is chosen in `options`.
fn covers(options: &Options, one: &Options) -> bool {
    (!one.retain_safe_private || options.retain_safe_private)
        && (!one.retain_uids || options.retain_uids)
        && (!one.retain_device_identity || options.retain_device_identity)
        && (!one.retain_institution_identity || options.retain_institution_identity)
        && (!one.retain_patient_characteristics || options.retain_patient_characteristics)
        && (one.dates == Dates::Remove || one.dates == options.dates)
        && (!one.clean_descriptors || options.clean_descriptors)
        && (!one.clean_structured_content || options.clean_structured_content)
        && (!one.clean_graphics || options.clean_graphics)
}

/// The engine's profile.
pub fn profile(
    options: Options,
    secret: Secret,
    allow_burned_in: bool,
    masks: Vec<PixelMask>,
) -> Profile {
    Profile {
        options,
        secret,
        pixels: PixelPolicy {
            allow_burned_in_text: allow_burned_in,
            masks,
            ..PixelPolicy::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_option_name_parses_and_names_itself_back() {
        for name in OPTION_NAMES {
            let options = parse(&names_of(&[name])).unwrap();
            assert_ne!(options, Options::default(), "{name}");
            assert_eq!(names(&options), [name]);
        }
        let all: Vec<&str> = OPTION_NAMES
            .into_iter()
            .filter(|n| *n != "retain-longitudinal-full-dates")
            .collect();
        assert_eq!(names(&parse(&names_of(&all)).unwrap()), all);
        assert!(names(&Options::default()).is_empty());
    }

    #[test]
    fn unknown_repeated_and_conflicting_options_are_refused() {
        let err = parse(&names_of(&["retain-everything"])).unwrap_err();
        assert!(err.to_string().contains("unknown"), "{err}");
        let err = parse(&names_of(&["retain-uids", "retain-uids"])).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let err = parse(&names_of(&[
            "retain-longitudinal-full-dates",
            "retain-longitudinal-modified-dates",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("exclude each other"), "{err}");
    }
}
