//! The action codes of PS3.15 Table E.1-1a and how a combination is resolved into the one
//! thing done to an element.
//!
//! A combination (Z/D, X/Z, X/D, X/Z/D, X/Z/U*) names the action the IOD's Type of the
//! attribute requires (Type 3 versus 2 versus 1). dicom-rs knows no IOD module tables, and an
//! attribute's Type differs between IODs and even between modules of one IOD, so Tessera takes
//! the interpretation that is conformant whatever the Type: the rightmost code of the
//! combination, applied only to an element that is present (an absent attribute is never
//! added). Z satisfies Type 3 (which may be sent empty) and Type 2; D satisfies all three;
//! U on a sequence keeps its items and replaces the instance UIDs they hold. No combination
//! keeps a value, so the choice costs data (a dummy or an empty value where removal would do),
//! never confidentiality.

use std::fmt;

/// One cell of Table E.1-1: an action code or a combination (Table E.1-1a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// D: replace with a non-zero length value that may be a dummy value, consistent with the VR.
    D,
    /// Z: replace with a zero length value (or a dummy value).
    Z,
    /// X: remove.
    X,
    /// K: keep (sequences: their items are still processed).
    K,
    /// C: clean, replace with values of similar meaning known not to identify.
    C,
    /// U: replace with a non-zero length UID, consistent within a set of instances.
    U,
    /// Z/D: Z unless D is required (Type 2 versus Type 1).
    ZD,
    /// X/Z: X unless Z is required (Type 3 versus Type 2).
    XZ,
    /// X/D: X unless D is required (Type 3 versus Type 1).
    XD,
    /// X/Z/D: X unless Z or D is required (Type 3 versus 2 versus 1).
    XZD,
    /// X/Z/U*: X unless Z or replacing the contained instance UIDs is required (sequences).
    XZU,
}

/// What is done to one present element once options and combinations are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Remove,
    Empty,
    Dummy,
    Keep,
    Clean,
    ReplaceUid,
}

impl Action {
    /// Parse a Table E.1-1 cell; `None` for an empty cell or an unknown code.
    pub fn parse(cell: &str) -> Option<Action> {
        Some(match cell.trim() {
            "D" => Action::D,
            "Z" => Action::Z,
            "X" => Action::X,
            "K" => Action::K,
            "C" => Action::C,
            "U" => Action::U,
            "Z/D" => Action::ZD,
            "X/Z" => Action::XZ,
            "X/D" => Action::XD,
            "X/Z/D" => Action::XZD,
            "X/Z/U*" => Action::XZU,
            _ => return None,
        })
    }

    /// The code as the standard prints it.
    pub fn code(self) -> &'static str {
        match self {
            Action::D => "D",
            Action::Z => "Z",
            Action::X => "X",
            Action::K => "K",
            Action::C => "C",
            Action::U => "U",
            Action::ZD => "Z/D",
            Action::XZ => "X/Z",
            Action::XD => "X/D",
            Action::XZD => "X/Z/D",
            Action::XZU => "X/Z/U*",
        }
    }

    /// The effect on a present element: a combination resolves to its rightmost code (see the
    /// module documentation).
    pub fn effect(self) -> Effect {
        match self {
            Action::X => Effect::Remove,
            Action::Z | Action::XZ => Effect::Empty,
            Action::D | Action::ZD | Action::XD | Action::XZD => Effect::Dummy,
            Action::K => Effect::Keep,
            Action::C => Effect::Clean,
            Action::U | Action::XZU => Effect::ReplaceUid,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_to_itself() {
        for code in [
            "D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*",
        ] {
            assert_eq!(Action::parse(code).unwrap().code(), code);
        }
        assert_eq!(Action::parse(""), None);
        assert_eq!(Action::parse("Q"), None);
    }

    #[test]
    fn combinations_take_the_value_that_fits_every_type() {
        assert_eq!(Action::ZD.effect(), Effect::Dummy);
        assert_eq!(Action::XZ.effect(), Effect::Empty);
        assert_eq!(Action::XD.effect(), Effect::Dummy);
        assert_eq!(Action::XZD.effect(), Effect::Dummy);
        assert_eq!(Action::XZU.effect(), Effect::ReplaceUid);
        assert_eq!(Action::X.effect(), Effect::Remove);
        assert_eq!(Action::K.effect(), Effect::Keep);
        assert_eq!(Action::C.effect(), Effect::Clean);
    }
}
