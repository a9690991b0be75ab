//! The options of the Basic Application Level Confidentiality Profile (PS3.15 E.3) that
//! Table E.1-1 has a column for, and how a row's actions combine under them.

use super::action::Action;

/// What happens to dates and times (PS3.15 E.3.6: the two options exclude each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dates {
    /// The basic profile: dates and times removed, emptied or replaced by dummies.
    #[default]
    Remove,
    /// Retain Longitudinal Temporal Information with Full Dates Option.
    RetainFull,
    /// Retain Longitudinal Temporal Information with Modified Dates Option: dates shifted by
    /// an offset per patient (see `dates.rs`).
    RetainModified,
}

/// The options chosen; all off is the basic profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub retain_safe_private: bool,
    pub retain_uids: bool,
    pub retain_device_identity: bool,
    pub retain_institution_identity: bool,
    pub retain_patient_characteristics: bool,
    pub dates: Dates,
    pub clean_descriptors: bool,
    pub clean_structured_content: bool,
    pub clean_graphics: bool,
}

/// The option columns of Table E.1-1, in the table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionColumn {
    RetainSafePrivate,
    RetainUids,
    RetainDeviceIdentity,
    RetainInstitutionIdentity,
    RetainPatientCharacteristics,
    RetainLongFullDates,
    RetainLongModifiedDates,
    CleanDescriptors,
    CleanStructuredContent,
    CleanGraphics,
}

impl OptionColumn {
    /// All columns in the table's order (the TSV's columns 6 to 15).
    pub const ALL: [OptionColumn; 10] = [
        OptionColumn::RetainSafePrivate,
        OptionColumn::RetainUids,
        OptionColumn::RetainDeviceIdentity,
        OptionColumn::RetainInstitutionIdentity,
        OptionColumn::RetainPatientCharacteristics,
        OptionColumn::RetainLongFullDates,
        OptionColumn::RetainLongModifiedDates,
        OptionColumn::CleanDescriptors,
        OptionColumn::CleanStructuredContent,
        OptionColumn::CleanGraphics,
    ];

    /// The column's name in the TSV header.
    pub fn tsv_name(self) -> &'static str {
        match self {
            OptionColumn::RetainSafePrivate => "retain_safe_private",
            OptionColumn::RetainUids => "retain_uids",
            OptionColumn::RetainDeviceIdentity => "retain_device_identity",
            OptionColumn::RetainInstitutionIdentity => "retain_institution_identity",
            OptionColumn::RetainPatientCharacteristics => "retain_patient_characteristics",
            OptionColumn::RetainLongFullDates => "retain_long_full_dates",
            OptionColumn::RetainLongModifiedDates => "retain_long_modified_dates",
            OptionColumn::CleanDescriptors => "clean_descriptors",
            OptionColumn::CleanStructuredContent => "clean_structured_content",
            OptionColumn::CleanGraphics => "clean_graphics",
        }
    }
}

impl Options {
    /// Whether the column's option is chosen.
    pub fn has(&self, column: OptionColumn) -> bool {
        match column {
            OptionColumn::RetainSafePrivate => self.retain_safe_private,
            OptionColumn::RetainUids => self.retain_uids,
            OptionColumn::RetainDeviceIdentity => self.retain_device_identity,
            OptionColumn::RetainInstitutionIdentity => self.retain_institution_identity,
            OptionColumn::RetainPatientCharacteristics => self.retain_patient_characteristics,
            OptionColumn::RetainLongFullDates => self.dates == Dates::RetainFull,
            OptionColumn::RetainLongModifiedDates => self.dates == Dates::RetainModified,
            OptionColumn::CleanDescriptors => self.clean_descriptors,
            OptionColumn::CleanStructuredContent => self.clean_structured_content,
            OptionColumn::CleanGraphics => self.clean_graphics,
        }
    }

    /// The action for a row: "a requirement for an Option, when implemented, overrides any
    /// requirement for the underlying Profile" (PS3.15 E.1.1). Where two chosen options ask
    /// for different actions (Table E.1-1 of 2026c has no such row, but a later edition
    /// could), clean wins over keep: cleaning keeps the meaning the retaining option wants
    /// while still honouring the cleaning option.
    pub fn resolve(&self, basic: Action, columns: &[Option<Action>; 10]) -> Action {
        let mut chosen: Option<Action> = None;
        for (column, action) in OptionColumn::ALL.iter().zip(columns) {
            let Some(action) = action else { continue };
            if !self.has(*column) {
                continue;
            }
            chosen = Some(match chosen {
                Some(Action::C) => Action::C,
                Some(_) if *action == Action::C => Action::C,
                Some(previous) => previous,
                None => *action,
            });
        }
        chosen.unwrap_or(basic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(pairs: &[(OptionColumn, Action)]) -> [Option<Action>; 10] {
        let mut out = [None; 10];
        for (column, action) in pairs {
            let i = OptionColumn::ALL.iter().position(|c| c == column).unwrap();
            out[i] = Some(*action);
        }
        out
    }

    #[test]
    fn the_basic_action_applies_without_options() {
        let cols = columns(&[(OptionColumn::RetainUids, Action::K)]);
        assert_eq!(Options::default().resolve(Action::U, &cols), Action::U);
    }

    #[test]
    fn a_chosen_option_overrides_the_basic_action() {
        let cols = columns(&[(OptionColumn::RetainUids, Action::K)]);
        let options = Options {
            retain_uids: true,
            ..Options::default()
        };
        assert_eq!(options.resolve(Action::U, &cols), Action::K);
    }

    #[test]
    fn the_date_options_select_their_own_column() {
        let cols = columns(&[
            (OptionColumn::RetainLongFullDates, Action::K),
            (OptionColumn::RetainLongModifiedDates, Action::C),
        ]);
        let full = Options {
            dates: Dates::RetainFull,
            ..Options::default()
        };
        let modified = Options {
            dates: Dates::RetainModified,
            ..Options::default()
        };
        assert_eq!(full.resolve(Action::Z, &cols), Action::K);
        assert_eq!(modified.resolve(Action::Z, &cols), Action::C);
        assert_eq!(Options::default().resolve(Action::Z, &cols), Action::Z);
    }

    #[test]
    fn clean_wins_over_keep_between_two_options() {
        let cols = columns(&[
            (OptionColumn::RetainDeviceIdentity, Action::K),
            (OptionColumn::CleanDescriptors, Action::C),
        ]);
        let both = Options {
            retain_device_identity: true,
            clean_descriptors: true,
            ..Options::default()
        };
        assert_eq!(both.resolve(Action::X, &cols), Action::C);
    }
}
