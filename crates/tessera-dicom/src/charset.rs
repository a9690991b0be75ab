//! Decoding of DICOM text values according to Specific Character Set (0008,0005).
//!
//! Implements the character repertoire rules of DICOM PS3.5 section 6.1
//! ("Support of Character Repertoires"), including the ISO/IEC 2022 code
//! extension techniques of section 6.1.2.5, with the Defined Terms and escape
//! sequences of PS3.3 section C.12.1.1.2 (Tables C.12-2 to C.12-5).
//! The worked examples of PS3.5 Annex H (Japanese), Annex I (Korean),
//! Annex J (Chinese: UTF-8, GB18030) and Annex K (Chinese: GB 2312, GBK) are
//! covered by the unit tests.
//!
//! Supported Defined Terms:
//!
//! * default repertoire (empty, `ISO_IR 6`, `ISO 2022 IR 6`); bytes above
//!   0x7F are leniently decoded as ISO 8859-1;
//! * single-byte sets, with and without code extensions: `ISO_IR 100`, `101`,
//!   `109`, `110`, `144`, `127`, `126`, `138`, `148`, `203`, `166` (ISO 8859-1,
//!   -2, -3, -4, -5, -6, -7, -8, -9, -15, TIS 620) and `ISO_IR 13`
//!   (JIS X 0201 romaji in G0, half-width katakana in G1);
//! * multi-byte sets with code extensions: `ISO 2022 IR 87` (JIS X 0208),
//!   `ISO 2022 IR 159` (JIS X 0212), `ISO 2022 IR 149` (KS X 1001) and
//!   `ISO 2022 IR 58` (GB 2312);
//! * stand-alone multi-byte sets: `ISO_IR 192` (UTF-8), `GB18030` and `GBK`.
//!
//! Decoding never fails: bytes that cannot be decoded become U+FFFD.
//! Any escape sequence listed in PS3.3 Tables C.12-3/C.12-4 is honoured even
//! when the corresponding term is missing from (0008,0005), as real-world data
//! frequently omits it. Defined Terms are matched leniently (case, spaces,
//! `_` and `-` are ignored, so `ISO-IR 100` and `iso_ir100` are accepted).

use std::borrow::Cow;
use std::fmt;

use encoding_rs::Encoding;

/// The ESC control character that starts an ISO/IEC 2022 escape sequence.
const ESC: u8 = 0x1B;

/// Error returned by [`CharacterSets::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharsetError {
    /// A value of Specific Character Set is not a known Defined Term.
    Unknown(String),
}

impl fmt::Display for CharsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CharsetError::Unknown(term) => {
                write!(f, "unknown Specific Character Set term {term:?}")
            }
        }
    }
}

impl std::error::Error for CharsetError {}

/// A single-byte (94 or 96 character) graphic set, or JIS X 0201.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sbcs {
    /// ISO-IR 100, ISO 8859-1.
    Latin1,
    /// ISO-IR 101, ISO 8859-2.
    Latin2,
    /// ISO-IR 109, ISO 8859-3.
    Latin3,
    /// ISO-IR 110, ISO 8859-4.
    Latin4,
    /// ISO-IR 144, ISO 8859-5.
    Cyrillic,
    /// ISO-IR 127, ISO 8859-6.
    Arabic,
    /// ISO-IR 126, ISO 8859-7.
    Greek,
    /// ISO-IR 138, ISO 8859-8.
    Hebrew,
    /// ISO-IR 148, ISO 8859-9.
    Latin5,
    /// ISO-IR 203, ISO 8859-15.
    Latin9,
    /// ISO-IR 166, TIS 620-2533.
    Thai,
    /// ISO-IR 13 (G1, half-width katakana) with ISO-IR 14 (G0, romaji).
    JisX0201,
}

impl Sbcs {
    /// The `encoding_rs` decoder for the upper (GR) half, if one is used.
    fn encoding(self) -> Option<&'static Encoding> {
        Some(match self {
            Sbcs::Latin1 | Sbcs::JisX0201 => return None,
            Sbcs::Latin2 => encoding_rs::ISO_8859_2,
            Sbcs::Latin3 => encoding_rs::ISO_8859_3,
            Sbcs::Latin4 => encoding_rs::ISO_8859_4,
            Sbcs::Cyrillic => encoding_rs::ISO_8859_5,
            Sbcs::Arabic => encoding_rs::ISO_8859_6,
            Sbcs::Greek => encoding_rs::ISO_8859_7,
            Sbcs::Hebrew => encoding_rs::ISO_8859_8,
            Sbcs::Latin5 => encoding_rs::WINDOWS_1254,
            Sbcs::Latin9 => encoding_rs::ISO_8859_15,
            Sbcs::Thai => encoding_rs::WINDOWS_874,
        })
    }

    /// Decode a run of bytes that all have the high bit set.
    fn decode_gr(self, run: &[u8], out: &mut String) {
        match self {
            Sbcs::Latin1 => out.extend(run.iter().map(|&b| char::from(b))),
            Sbcs::JisX0201 => out.extend(run.iter().map(|&b| {
                match b {
                    // Half-width katakana U+FF61..U+FF9F.
                    0xA1..=0xDF => char::from_u32(0xFF61 + u32::from(b - 0xA1))
                        .unwrap_or(char::REPLACEMENT_CHARACTER),
                    _ => char::REPLACEMENT_CHARACTER,
                }
            })),
            other => match other.encoding() {
                Some(enc) => out.push_str(&enc.decode_without_bom_handling(run).0),
                None => out.extend(run.iter().map(|_| char::REPLACEMENT_CHARACTER)),
            },
        }
    }
}

/// A double-byte (94x94) graphic set used with code extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dbcs {
    /// ISO-IR 87, JIS X 0208 (kanji, kana).
    JisX0208,
    /// ISO-IR 159, JIS X 0212 (supplementary kanji).
    JisX0212,
    /// ISO-IR 149, KS X 1001 (Hangul and Hanja).
    KsX1001,
    /// ISO-IR 58, GB 2312 (simplified Chinese).
    Gb2312,
}

impl Dbcs {
    /// Decode a run of bytes in GR (0xA1..=0xFE, i.e. EUC form).
    fn decode_gr(self, run: &[u8], out: &mut String) {
        match self {
            Dbcs::JisX0208 => push_decoded(encoding_rs::EUC_JP, run, out),
            Dbcs::KsX1001 => push_decoded(encoding_rs::EUC_KR, run, out),
            Dbcs::Gb2312 => push_decoded(encoding_rs::GBK, run, out),
            Dbcs::JisX0212 => {
                // EUC-JP encodes JIS X 0212 as SS3 (0x8F) + two GR bytes.
                let mut buf = Vec::with_capacity(run.len() / 2 * 3);
                let pairs = run.chunks_exact(2);
                let odd = !pairs.remainder().is_empty();
                for pair in pairs {
                    buf.extend_from_slice(&[0x8F, pair[0] | 0x80, pair[1] | 0x80]);
                }
                push_decoded(encoding_rs::EUC_JP, &buf, out);
                if odd {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }

    /// Decode a run of bytes in GL (0x21..=0x7E, 7-bit ISO 2022 form).
    fn decode_gl(self, run: &[u8], out: &mut String) {
        let high: Vec<u8> = run.iter().map(|&b| b | 0x80).collect();
        self.decode_gr(&high, out);
    }
}

fn push_decoded(enc: &'static Encoding, bytes: &[u8], out: &mut String) {
    out.push_str(&enc.decode_without_bom_handling(bytes).0);
}

/// One value (Defined Term) of Specific Character Set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    /// Default repertoire, ISO-IR 6 (with or without code extensions).
    Default,
    /// A single-byte set (with or without code extensions).
    Single(Sbcs),
    /// A multi-byte set that requires code extensions.
    Multi(Dbcs),
    /// ISO_IR 192, UTF-8 (no code extensions).
    Utf8,
    /// GB18030 (no code extensions).
    Gb18030,
    /// GBK (no code extensions).
    Gbk,
}

impl Term {
    /// Look up a Defined Term, ignoring case, spaces, `_` and `-`.
    fn from_name(name: &str) -> Option<Term> {
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ir = key
            .strip_prefix("ISO2022IR")
            .or_else(|| key.strip_prefix("ISOIR"));
        if let Some(number) = ir {
            return Some(match number {
                "6" => Term::Default,
                "100" => Term::Single(Sbcs::Latin1),
                "101" => Term::Single(Sbcs::Latin2),
                "109" => Term::Single(Sbcs::Latin3),
                "110" => Term::Single(Sbcs::Latin4),
                "144" => Term::Single(Sbcs::Cyrillic),
                "127" => Term::Single(Sbcs::Arabic),
                "126" => Term::Single(Sbcs::Greek),
                "138" => Term::Single(Sbcs::Hebrew),
                "148" => Term::Single(Sbcs::Latin5),
                "203" => Term::Single(Sbcs::Latin9),
                "166" => Term::Single(Sbcs::Thai),
                "13" => Term::Single(Sbcs::JisX0201),
                "87" => Term::Multi(Dbcs::JisX0208),
                "159" => Term::Multi(Dbcs::JisX0212),
                "149" => Term::Multi(Dbcs::KsX1001),
                "58" => Term::Multi(Dbcs::Gb2312),
                "192" => Term::Utf8,
                _ => return None,
            });
        }
        match key.as_str() {
            "GB18030" => Some(Term::Gb18030),
            // "ISO 2022 GBK" and "ISO 2022 58" appear in CP 1234 drafts.
            "GBK" | "ISO2022GBK" => Some(Term::Gbk),
            "ISO202258" | "GB2312" => Some(Term::Multi(Dbcs::Gb2312)),
            "UTF8" => Some(Term::Utf8),
            _ => None,
        }
    }
}

/// The code element designated to G0 (bytes 0x21..=0x7E).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G0 {
    /// ISO-IR 6 (ASCII).
    Ascii,
    /// ISO-IR 14 (JIS X 0201 romaji): ASCII with YEN SIGN and OVERLINE.
    Romaji,
    /// A 94x94 double-byte set (JIS X 0208, JIS X 0212, ...).
    Double(Dbcs),
}

/// The code element designated to G1 (bytes 0x80..=0xFF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G1 {
    Single(Sbcs),
    Double(Dbcs),
}

/// A parsed ISO 2022 designation escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Designation {
    G0(G0),
    G1(G1),
}

/// Map an escape sequence (without the leading ESC) to its designation,
/// per PS3.3 Tables C.12-3 and C.12-4 (plus a few harmless ISO 2022 aliases).
fn designation(seq: &[u8]) -> Option<Designation> {
    use Designation as D;
    Some(match seq {
        b"(B" => D::G0(G0::Ascii),
        b"(J" => D::G0(G0::Romaji),
        b")I" => D::G1(G1::Single(Sbcs::JisX0201)),
        b"-A" => D::G1(G1::Single(Sbcs::Latin1)),
        b"-B" => D::G1(G1::Single(Sbcs::Latin2)),
        b"-C" => D::G1(G1::Single(Sbcs::Latin3)),
        b"-D" => D::G1(G1::Single(Sbcs::Latin4)),
        b"-F" => D::G1(G1::Single(Sbcs::Greek)),
        b"-G" => D::G1(G1::Single(Sbcs::Arabic)),
        b"-H" => D::G1(G1::Single(Sbcs::Hebrew)),
        b"-L" => D::G1(G1::Single(Sbcs::Cyrillic)),
        b"-M" => D::G1(G1::Single(Sbcs::Latin5)),
        b"-T" => D::G1(G1::Single(Sbcs::Thai)),
        b"-b" => D::G1(G1::Single(Sbcs::Latin9)),
        // ESC $ @ is the JIS C 6226-1978 predecessor of JIS X 0208.
        b"$B" | b"$@" | b"$(B" | b"$(@" => D::G0(G0::Double(Dbcs::JisX0208)),
        b"$(D" => D::G0(G0::Double(Dbcs::JisX0212)),
        b"$A" | b"$(A" => D::G0(G0::Double(Dbcs::Gb2312)),
        b"$(C" => D::G0(G0::Double(Dbcs::KsX1001)),
        b"$)C" => D::G1(G1::Double(Dbcs::KsX1001)),
        b"$)A" => D::G1(G1::Double(Dbcs::Gb2312)),
        b"$)B" => D::G1(G1::Double(Dbcs::JisX0208)),
        b"$)D" => D::G1(G1::Double(Dbcs::JisX0212)),
        _ => return None,
    })
}

/// How a VR treats delimiters and padding (PS3.5 Table 6.2-1).
#[derive(Debug, Clone, Copy)]
struct VrRules {
    /// Backslash separates values (VM > 1 allowed).
    multi: bool,
    /// Person Name: `^` and `=` reset the code elements.
    pn: bool,
    /// Leading spaces are insignificant.
    trim_leading: bool,
}

impl VrRules {
    fn of(vr: [u8; 2]) -> VrRules {
        match &vr {
            b"ST" | b"LT" | b"UT" | b"UR" => VrRules {
                multi: false,
                pn: false,
                trim_leading: false,
            },
            b"PN" => VrRules {
                multi: true,
                pn: true,
                trim_leading: false,
            },
            b"UC" => VrRules {
                multi: true,
                pn: false,
                trim_leading: false,
            },
            // SH, LO, CS, AE, DS, IS, UI, DA, TM, DT, AS, ...
            _ => VrRules {
                multi: true,
                pn: false,
                trim_leading: true,
            },
        }
    }

    /// Does this byte (in a single-byte G0 context) reset the code elements
    /// to their initial designation (PS3.5 6.1.2.5.3)?
    fn resets(self, b: u8) -> bool {
        matches!(b, b'\t' | b'\n' | 0x0C | b'\r')
            || (self.multi && b == b'\\')
            || (self.pn && (b == b'^' || b == b'='))
    }
}

/// Parsed Specific Character Set (0008,0005).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharacterSets {
    /// The values of (0008,0005) in order; never empty. An empty first
    /// value is stored as [`Term::Default`].
    terms: Vec<Term>,
}

impl Default for CharacterSets {
    fn default() -> Self {
        Self::default_repertoire()
    }
}

impl CharacterSets {
    /// Parse the raw value of (0008,0005) as stored (backslash-separated,
    /// padded with spaces); an empty value means the default repertoire.
    ///
    /// When there are several values and the first is empty, the initial
    /// code element is ISO 2022 IR 6 (PS3.3 C.12.1.1.2).
    pub fn parse(raw: &[u8]) -> Result<Self, CharsetError> {
        let text: String = raw.iter().map(|&b| char::from(b)).collect();
        let mut terms = Vec::new();
        for (index, value) in text.split('\\').enumerate() {
            let value = value.trim_matches(|c| c == ' ' || c == '\0');
            if value.is_empty() {
                if index == 0 {
                    terms.push(Term::Default);
                }
                continue;
            }
            let term =
                Term::from_name(value).ok_or_else(|| CharsetError::Unknown(value.to_owned()))?;
            terms.push(term);
        }
        if terms.is_empty() {
            terms.push(Term::Default);
        }
        Ok(CharacterSets { terms })
    }

    /// The default character repertoire (ISO-IR 6), used when
    /// (0008,0005) is absent or empty.
    pub fn default_repertoire() -> Self {
        CharacterSets {
            terms: vec![Term::Default],
        }
    }

    /// Is every code element single-byte with ASCII in G0, i.e. the default
    /// repertoire or ISO 8859 / TIS 620 sets (so ASCII values need no work)?
    pub fn is_default(&self) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Default => true,
            Term::Single(set) => *set != Sbcs::JisX0201,
            _ => false,
        })
    }

    /// Is the initial G0 code element ASCII, so that a value consisting only
    /// of bytes 0x00..=0x7F without ESC decodes to itself? True for
    /// everything except `ISO_IR 13` (whose G0 is JIS X 0201 romaji).
    pub fn is_ascii_compatible(&self) -> bool {
        self.first() != Term::Single(Sbcs::JisX0201)
    }

    /// Is the character set UTF-8 (`ISO_IR 192`)?
    pub fn is_utf8(&self) -> bool {
        self.first() == Term::Utf8
    }

    fn first(&self) -> Term {
        self.terms.first().copied().unwrap_or(Term::Default)
    }

    /// Initial designations of G0 and G1 derived from the first value.
    fn initial(&self) -> (G0, G1) {
        match self.first() {
            Term::Single(Sbcs::JisX0201) => (G0::Romaji, G1::Single(Sbcs::JisX0201)),
            Term::Single(set) => (G0::Ascii, G1::Single(set)),
            // KS X 1001 / GB 2312 alone: plain EUC-KR / EUC-CN.
            Term::Multi(set @ (Dbcs::KsX1001 | Dbcs::Gb2312)) => (G0::Ascii, G1::Double(set)),
            // Lenient: high bytes of the default repertoire as ISO 8859-1.
            _ => (G0::Ascii, G1::Single(Sbcs::Latin1)),
        }
    }

    /// Decode a text value of the given VR (e.g. `*b"PN"`, `*b"LO"`).
    ///
    /// Multiple values stay separated by `\`. Trailing spaces and NULs of
    /// each value are removed, leading spaces too for VRs where they are
    /// insignificant (everything except PN, ST, LT, UT, UC and UR), and for
    /// PN trailing empty component groups (`=`). Never panics; undecodable
    /// bytes become U+FFFD.
    pub fn decode(&self, raw: &[u8], vr: [u8; 2]) -> String {
        let rules = VrRules::of(vr);
        let text = self.decode_raw(raw, rules);
        normalize(&text, rules)
    }

    /// Decode without any trimming.
    fn decode_raw<'a>(&self, raw: &'a [u8], rules: VrRules) -> Cow<'a, str> {
        match self.first() {
            Term::Utf8 => return String::from_utf8_lossy(raw),
            Term::Gb18030 => return encoding_rs::GB18030.decode_without_bom_handling(raw).0,
            Term::Gbk => return encoding_rs::GBK.decode_without_bom_handling(raw).0,
            _ => {}
        }
        if self.is_ascii_compatible() && raw.is_ascii() && !raw.contains(&ESC) {
            // Pure ASCII is valid UTF-8; the fallback is unreachable.
            return String::from_utf8_lossy(raw);
        }
        Cow::Owned(self.decode_iso2022(raw, rules))
    }

    /// ISO/IEC 2022 decoder (PS3.5 6.1.2.5): G0 in GL, G1 in GR,
    /// designations by escape sequences, reset at delimiters.
    fn decode_iso2022(&self, raw: &[u8], rules: VrRules) -> String {
        let (init_g0, init_g1) = self.initial();
        let (mut g0, mut g1) = (init_g0, init_g1);
        let mut out = String::with_capacity(raw.len() + raw.len() / 2);
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b == ESC {
                let (len, found) = parse_escape(&raw[i..]);
                match found {
                    Some(Designation::G0(set)) => g0 = set,
                    Some(Designation::G1(set)) => g1 = set,
                    None => out.push(char::REPLACEMENT_CHARACTER),
                }
                i += len;
                continue;
            }
            if b >= 0x80 {
                let end = run_end(raw, i, |b| b >= 0x80);
                match g1 {
                    G1::Single(set) => set.decode_gr(&raw[i..end], &mut out),
                    G1::Double(set) => set.decode_gr(&raw[i..end], &mut out),
                }
                i = end;
                continue;
            }
            if let G0::Double(set) = g0 {
                if (0x21..=0x7E).contains(&b) {
                    let end = run_end(raw, i, |b| (0x21..=0x7E).contains(&b));
                    set.decode_gl(&raw[i..end], &mut out);
                    i = end;
                    continue;
                }
            }
            let c = match (g0, b) {
                (G0::Romaji, b'\\') if !rules.multi => '\u{A5}',
                (G0::Romaji, b'~') => '\u{203E}',
                _ => char::from(b),
            };
            out.push(c);
            if rules.resets(b) {
                g0 = init_g0;
                g1 = init_g1;
            }
            i += 1;
        }
        out
    }
}

/// Index of the first byte at or after `start` not matching `pred`.
fn run_end(raw: &[u8], start: usize, pred: impl Fn(u8) -> bool) -> usize {
    raw[start..]
        .iter()
        .position(|&b| !pred(b))
        .map_or(raw.len(), |p| start + p)
}

/// Parse an escape sequence at the start of `bytes` (which begins with ESC):
/// ESC, intermediate bytes 0x20..=0x2F, one final byte 0x30..=0x7E.
/// Returns the number of bytes consumed and the designation, if known.
fn parse_escape(bytes: &[u8]) -> (usize, Option<Designation>) {
    let intermediates = bytes
        .iter()
        .skip(1)
        .take_while(|b| (0x20..=0x2F).contains(*b))
        .count();
    let final_at = 1 + intermediates;
    match bytes.get(final_at) {
        Some(f) if (0x30..=0x7E).contains(f) => (final_at + 1, designation(&bytes[1..=final_at])),
        // Malformed: consume only the ESC itself.
        _ => (1, None),
    }
}

/// Trim padding per value (and trailing empty PN component groups).
fn normalize(text: &str, rules: VrRules) -> String {
    let trim = |value: &str| -> String {
        let mut v = value.trim_end_matches([' ', '\0']);
        if rules.trim_leading {
            v = v.trim_start_matches(' ');
        }
        if rules.pn {
            v = v.trim_end_matches(['=', ' ', '\0']);
        }
        v.to_owned()
    };
    if rules.multi {
        let values: Vec<String> = text.split('\\').map(trim).collect();
        values.join("\\")
    } else {
        trim(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("valid hex"))
            .collect()
    }

    fn cs(raw: &str) -> CharacterSets {
        CharacterSets::parse(raw.as_bytes()).expect("known character set")
    }

    /// Generated by gen_fixture.py from pydicom 3.0.2 data/charset_files:
    /// (file, tag, VR, Specific Character Set hex, value hex, pydicom's str).
    const PYDICOM_FIXTURE: &[(&str, &str, &str, &str, &str, &str)] = &[
        ("chrArab.dcm", "00100010", "PN", "49534f5f495220313237", "e2c8c7e6ea5ee4e6d2c7d120", "قباني^لنزار"),
        ("chrFren.dcm", "00100010", "PN", "49534f5f495220313030", "4275635e4ae972f46d65", "Buc^Jérôme"),
        ("chrFrenMulti.dcm", "00100010", "PN", "49534f5f495220313030", "4275635e4ae972f46d65", "Buc^Jérôme"),
        ("chrFrenMulti.dcm", "00101000", "LO", "49534f5f495220313030", "656767735c7370616d20", "eggs\\spam"),
        ("chrFrenMulti.dcm", "00101001", "PN", "49534f5f495220313030", "4275635e4ae972f46d655c4275635e4ae972f46d6520", "Buc^Jérôme\\Buc^Jérôme"),
        ("chrGerm.dcm", "00100010", "PN", "49534f5f495220313030", "c46e6561735e52fc646967657220", "Äneas^Rüdiger"),
        ("chrGreek.dcm", "00100010", "PN", "49534f5f495220313236", "c4e9efedf5f3e9eff220", "Διονυσιος"),
        ("chrH31.dcm", "00100010", "PN", "5c49534f2032303232204952203837", "59616d6164615e5461726f753d1b24423b3345441b28425e1b244242404f3a1b28423d1b24422464245e24401b28425e1b2442243f246d24261b2842", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("chrH32.dcm", "00100010", "PN", "49534f20323032322049522031335c49534f2032303232204952203837", "d4cfc0de5ec0dbb33d1b24423b3345441b284a5e1b244242404f3a1b284a3d1b24422464245e24401b284a5e1b2442243f246d24261b284a", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
        ("chrHbrw.dcm", "00100010", "PN", "49534f5f495220313338", "f9f8e5ef5ee3e1e5f8e4", "שרון^דבורה"),
        ("chrI2.dcm", "00100010", "PN", "5c49534f203230323220495220313439", "486f6e675e47696c646f6e673d1b242943fbf35e1b242943d1ced4d73d1b242943c8ab5e1b242943b1e6b5bf", "Hong^Gildong=洪^吉洞=홍^길동"),
        ("chrJapMulti.dcm", "00100010", "PN", "5c49534f2032303232204952203837", "1b24422464245e24401b28425e1b2442243f246d24261b284220", "やまだ^たろう"),
        ("chrJapMulti.dcm", "00101001", "PN", "5c49534f2032303232204952203837", "1b24422464245e24401b28425e1b2442243f246d24261b28425c1b24422464245e24401b28425e1b2442243f246d24261b284220", "やまだ^たろう\\やまだ^たろう"),
        ("chrJapMulti.dcm", "001021B0", "LT", "5c49534f2032303232204952203837", "1b2442243f246d24261b2842", "たろう"),
        ("chrJapMultiExplicitIR6.dcm", "00100010", "PN", "49534f203230323220495220365c49534f2032303232204952203837", "1b24422464245e24401b28425e1b2442243f246d24261b284220", "やまだ^たろう"),
        ("chrJapMultiExplicitIR6.dcm", "00101001", "PN", "49534f203230323220495220365c49534f2032303232204952203837", "1b24422464245e24401b28425e1b2442243f246d24261b28425c1b24422464245e24401b28425e1b2442243f246d24261b284220", "やまだ^たろう\\やまだ^たろう"),
        ("chrJapMultiExplicitIR6.dcm", "001021B0", "LT", "49534f203230323220495220365c49534f2032303232204952203837", "1b2442243f246d24261b2842", "たろう"),
        ("chrKoreanMulti.dcm", "00081070", "PN", "5c49534f203230323220495220313439", "1b242943b1e8c8f1c1df1b284220", "김희중"),
        ("chrKoreanMulti.dcm", "00100010", "PN", "5c49534f203230323220495220313439", "1b242943b1e8c8f1c1df1b284220", "김희중"),
        ("chrKoreanMulti.dcm", "00101001", "PN", "5c49534f203230323220495220313439", "1b242943b1e8c8f1c1df1b28425c1b242943b1e8c8f1c1df1b284220", "김희중\\김희중"),
        ("chrKoreanMulti.dcm", "001021B0", "LT", "5c49534f203230323220495220313439", "1b242943b1e8c8f1c1df1b284220", "김희중"),
        ("chrRuss.dcm", "00100010", "PN", "49534f5f495220313434", "bbeeda6365dcd17970d3", "Люкceмбypг"),
        ("chrSQEncoding.dcm", "00321064[0].00100010", "PN", "49534f20323032322049522031335c49534f203230323220495220383720", "d4cfc0de5ec0dbb33d1b24423b3345441b28425e1b244242404f3a1b28423d1b24422464245e24401b28425e1b2442243f246d24261b2842", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
        ("chrSQEncoding1.dcm", "00321064[0].00100010", "PN", "49534f20323032322049522031335c49534f2032303232204952203837", "d4cfc0de5ec0dbb33d1b24423b3345441b28425e1b244242404f3a1b28423d1b24422464245e24401b28425e1b2442243f246d24261b2842", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
        ("chrX1.dcm", "00100010", "PN", "49534f5f495220313932", "57616e675e5869616f446f6e673de78e8b5ee5b08fe69db13d20", "Wang^XiaoDong=王^小東"),
        ("chrX2.dcm", "00100010", "PN", "47423138303330", "57616e675e5869616f446f6e673dcdf55ed0a1b6ab3d", "Wang^XiaoDong=王^小东"),
    ];

    /// PS3.3 Table C.12-3 escape sequences, for the tests.
    fn designation_escape(term: &str) -> &'static [u8] {
        match term {
            "ISO 2022 IR 100" => b"\x1b-A",
            "ISO 2022 IR 101" => b"\x1b-B",
            "ISO 2022 IR 109" => b"\x1b-C",
            "ISO 2022 IR 110" => b"\x1b-D",
            "ISO 2022 IR 126" => b"\x1b-F",
            "ISO 2022 IR 127" => b"\x1b-G",
            "ISO 2022 IR 138" => b"\x1b-H",
            "ISO 2022 IR 144" => b"\x1b-L",
            "ISO 2022 IR 148" => b"\x1b-M",
            "ISO 2022 IR 166" => b"\x1b-T",
            "ISO 2022 IR 203" => b"\x1b-b",
            "ISO 2022 IR 13" => b"\x1b)I",
            other => panic!("no escape for {other}"),
        }
    }

    #[test]
    fn pydicom_charset_files() {
        for &(file, tag, vr, charset, value, expected) in PYDICOM_FIXTURE {
            let sets =
                CharacterSets::parse(&hex(charset)).unwrap_or_else(|e| panic!("{file} {tag}: {e}"));
            let vr: [u8; 2] = vr.as_bytes().try_into().expect("two-letter VR");
            let got = sets.decode(&hex(value), vr);
            assert_eq!(got, expected, "{file} {tag}");
        }
    }

    #[test]
    fn parse_terms() {
        assert_eq!(cs(""), CharacterSets::default_repertoire());
        assert_eq!(cs("  "), CharacterSets::default_repertoire());
        assert_eq!(cs("ISO_IR 6"), CharacterSets::default());
        assert_eq!(cs("ISO_IR 100 "), cs("ISO-IR 100"));
        assert_eq!(cs("ISO_IR 192"), cs("iso_ir192"));
        assert!(cs("ISO_IR 192").is_utf8());
        assert!(cs("").is_default());
        assert!(cs("ISO 2022 IR 6\\ISO 2022 IR 100").is_default());
        assert!(cs("ISO_IR 144").is_default());
        assert!(!cs("ISO_IR 192").is_default());
        assert!(!cs("\\ISO 2022 IR 87").is_default());
        assert!(!cs("ISO_IR 13").is_default());
        assert!(!cs("ISO_IR 13").is_ascii_compatible());
        assert!(cs("\\ISO 2022 IR 149").is_ascii_compatible());
        for term in [
            "ISO_IR 6",
            "ISO_IR 13",
            "ISO_IR 100",
            "ISO_IR 101",
            "ISO_IR 109",
            "ISO_IR 110",
            "ISO_IR 126",
            "ISO_IR 127",
            "ISO_IR 138",
            "ISO_IR 144",
            "ISO_IR 148",
            "ISO_IR 166",
            "ISO_IR 192",
            "ISO_IR 203",
            "GB18030",
            "GBK",
            "ISO 2022 IR 6",
            "ISO 2022 IR 13",
            "ISO 2022 IR 58",
            "ISO 2022 IR 87",
            "ISO 2022 IR 100",
            "ISO 2022 IR 101",
            "ISO 2022 IR 109",
            "ISO 2022 IR 110",
            "ISO 2022 IR 126",
            "ISO 2022 IR 127",
            "ISO 2022 IR 138",
            "ISO 2022 IR 144",
            "ISO 2022 IR 148",
            "ISO 2022 IR 149",
            "ISO 2022 IR 159",
            "ISO 2022 IR 166",
            "ISO 2022 IR 203",
        ] {
            assert!(CharacterSets::parse(term.as_bytes()).is_ok(), "{term}");
        }
    }

    #[test]
    fn unknown_term_is_error() {
        let err = CharacterSets::parse(b"ISO_IR 100\\KOI8-R").unwrap_err();
        assert_eq!(err, CharsetError::Unknown("KOI8-R".into()));
        assert!(err.to_string().contains("KOI8-R"));
        assert!(CharacterSets::parse(b"ISO_IR 999").is_err());
        assert!(CharacterSets::parse(b"ISO 2022 IR").is_err());
    }

    #[test]
    fn default_repertoire_is_lenient_latin1() {
        let d = CharacterSets::default_repertoire();
        assert_eq!(d.decode(b"DOE^JOHN ", *b"PN"), "DOE^JOHN");
        assert_eq!(d.decode(b"M\xfcller", *b"LO"), "Müller");
        assert_eq!(d.decode(b"\x80\xff", *b"LT"), "\u{80}ÿ");
        assert_eq!(d.decode(b"", *b"LO"), "");
    }

    #[test]
    fn single_byte_sets() {
        let cases: &[(&str, &[u8], &str)] = &[
            // ISO 8859-1 proper, not windows-1252 (0x80 stays a C1 control).
            ("ISO_IR 100", b"Buc^J\xe9r\xf4me\x80", "Buc^Jérôme\u{80}"),
            ("ISO_IR 101", b"Wal\xea\xb3sa", "Walęłsa"),
            ("ISO_IR 109", b"\xa1\xe6\xfe", "Ħĉŝ"),
            ("ISO_IR 110", b"\xa1\xbb\xf9", "Ąģų"),
            ("ISO_IR 144", b"\xbb\xee\xda", "Люк"),
            ("ISO_IR 127", b"\xe2\xc8\xc7", "قبا"),
            ("ISO_IR 126", b"\xc4\xe9\xef", "Διο"),
            ("ISO_IR 138", b"\xf9\xf8\xe5\xef", "שרון"),
            ("ISO_IR 148", b"\xd0\xdd\xde\xfd", "ĞİŞı"),
            ("ISO_IR 203", b"\xa4\xa6\xbc", "€ŠŒ"),
            ("ISO_IR 166", b"\xa1\xd2\xc3", "การ"),
            ("ISO_IR 13", b"\xd4\xcf\xc0\xde", "ﾔﾏﾀﾞ"),
        ];
        for &(term, raw, expected) in cases {
            assert_eq!(cs(term).decode(raw, *b"LO"), expected, "{term}");
            // The same set designated by its ISO 2022 escape sequence.
            let ext = term.replace("ISO_IR", "ISO 2022 IR");
            let sets = cs(&format!("ISO 2022 IR 6\\{ext}"));
            let mut escaped = designation_escape(&ext).to_vec();
            escaped.extend_from_slice(raw);
            assert_eq!(sets.decode(&escaped, *b"LO"), expected, "{ext}");
        }
    }

    #[test]
    fn jis_x0201_romaji() {
        let sets = cs("ISO_IR 13");
        // 0x5C is YEN SIGN where backslash is not a delimiter, 0x7E OVERLINE.
        assert_eq!(sets.decode(b"100\\ ~", *b"LT"), "100\u{A5} \u{203E}");
        // In multi-valued VRs 0x5C stays the value delimiter.
        assert_eq!(sets.decode(b"A\\B", *b"LO"), "A\\B");
        // Bytes outside half-width katakana are undecodable.
        assert_eq!(sets.decode(b"\xa0\xe0", *b"LO"), "\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn stand_alone_multi_byte() {
        assert_eq!(
            cs("ISO_IR 192").decode("Wang^XiaoDong=王^小東= ".as_bytes(), *b"PN"),
            "Wang^XiaoDong=王^小東"
        );
        // GB18030 four-byte form and a 0x5C trail byte inside a character.
        assert_eq!(cs("GB18030").decode(b"\x81\x30\x81\x30", *b"LO"), "\u{80}");
        assert_eq!(cs("GBK").decode(b"\x95\x5c\\x", *b"LO"), "昞\\x");
        assert_eq!(cs("GBK").decode(b"\xcd\xf5^\xd0\xa1", *b"PN"), "王^小");
        assert_eq!(cs("ISO_IR 192").decode(b"a\xffb", *b"LO"), "a\u{FFFD}b");
    }

    #[test]
    fn annex_k_gb2312() {
        // PS3.5 K.2: "\ISO 2022 IR 58" with ESC $ ) A designations.
        let sets = cs("\\ISO 2022 IR 58");
        let raw = b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab=";
        assert_eq!(sets.decode(raw, *b"PN"), "Zhang^XiaoDong=张^小东");
    }

    #[test]
    fn jis_x0212() {
        // JIS X 0212 0x2B21 = U+00E1 and 0x3021 = U+4E02 (supplementary kanji).
        let sets = cs("\\ISO 2022 IR 159");
        let raw = b"\x1b$(D+!0!\x1b(B^x";
        assert_eq!(sets.decode(raw, *b"PN"), "\u{E1}\u{4E02}^x");
    }

    #[test]
    fn code_extension_single_byte() {
        let sets = cs("ISO 2022 IR 6\\ISO 2022 IR 100\\ISO 2022 IR 144");
        let raw = b"\x1b-A\xe9\x1b-L\xbb\\\xbb";
        // After '\' the G1 set returns to the initial (Latin-1 by leniency).
        assert_eq!(sets.decode(raw, *b"LO"), "éЛ\\»");
    }

    #[test]
    fn reset_at_delimiters() {
        // G1 returns to the initial designation (ISO-IR 100) after each
        // delimiter; 0xBB is CYRILLIC EL in ISO-IR 144, » in ISO-IR 100.
        let sets = cs("ISO 2022 IR 100\\ISO 2022 IR 144");
        for (delim, vr) in [
            (b'\\', *b"LO"),
            (b'^', *b"PN"),
            (b'=', *b"PN"),
            (b'\r', *b"LT"),
            (b'\n', *b"LT"),
            (b'\t', *b"LT"),
            (0x0C, *b"LT"),
        ] {
            let mut raw = b"\x1b-L\xbb".to_vec();
            raw.push(delim);
            raw.push(0xBB);
            let expected = format!("Л{}»", char::from(delim));
            assert_eq!(sets.decode(&raw, vr), expected, "delimiter {delim:#x}");
        }
        // Not delimiters: backslash in LT, '^' in LO.
        assert_eq!(sets.decode(b"\x1b-L\xbb\\\xbb", *b"LT"), "Л\\Л");
        assert_eq!(sets.decode(b"\x1b-L\xbb^\xbb", *b"LO"), "Л^Л");
        // G0: control characters end a JIS X 0208 run and reset to ASCII.
        let jp = cs("\\ISO 2022 IR 87");
        for delim in [b'\r', b'\n', b'\t', 0x0C] {
            let mut raw = b"\x1b$B;3".to_vec();
            raw.push(delim);
            raw.extend_from_slice(b";3");
            let expected = format!("山{};3", char::from(delim));
            assert_eq!(jp.decode(&raw, *b"LT"), expected, "delimiter {delim:#x}");
        }
        // Inside a two-byte G0 run, 0x5C/0x5E/0x3D are character bytes
        // (PS3.5 6.1.2.5.3 requires switching back before delimiters).
        assert_eq!(jp.decode(b"\x1b$B;3$^\x1b(B^x", *b"PN"), "山ま^x");
        // Romaji G0 of ISO 2022 IR 13 returns after ESC ( B and a delimiter.
        let kana = cs("ISO 2022 IR 13\\ISO 2022 IR 87");
        assert_eq!(kana.decode(b"\x1b(B~^~", *b"PN"), "~^\u{203E}");
        // G1 resets too: Korean designated only before the first value.
        let kr = cs("\\ISO 2022 IR 149");
        assert_eq!(
            kr.decode(b"\x1b$)C\xc8\xab^\xc8\xab", *b"PN"),
            "홍^\u{c8}\u{ab}"
        );
        // Initial G1 of plain ISO 2022 IR 149 is KS X 1001 (EUC-KR).
        assert_eq!(cs("ISO 2022 IR 149").decode(b"\xc8\xab", *b"PN"), "홍");
    }

    #[test]
    fn undecodable_bytes() {
        let jp = cs("\\ISO 2022 IR 87");
        // Odd-length JIS X 0208 run.
        assert_eq!(jp.decode(b"\x1b$B;\x1b(Bx", *b"LO"), "\u{FFFD}x");
        // Unknown but well-formed escape sequence, malformed escape at end.
        assert_eq!(jp.decode(b"a\x1b(Zb\x1b", *b"LO"), "a\u{FFFD}b\u{FFFD}");
        // Unmapped ISO 8859-6 byte.
        assert_eq!(cs("ISO_IR 127").decode(b"\xa1", *b"LO"), "\u{FFFD}");
        // Truncated EUC-KR.
        assert_eq!(
            cs("\\ISO 2022 IR 149").decode(b"\x1b$)C\xc8", *b"LO"),
            "\u{FFFD}"
        );
    }

    #[test]
    fn padding_rules() {
        let d = CharacterSets::default_repertoire();
        assert_eq!(d.decode(b" ab \\ cd\0", *b"LO"), "ab\\cd");
        assert_eq!(d.decode(b" ab \\ cd ", *b"ST"), " ab \\ cd");
        assert_eq!(d.decode(b"  text\r\n  ", *b"LT"), "  text\r\n");
        assert_eq!(d.decode(b" Doe^John=", *b"PN"), " Doe^John");
        assert_eq!(d.decode(b"^^^^", *b"PN"), "^^^^");
        assert_eq!(d.decode(b" x ", *b"UC"), " x");
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let sets: Vec<CharacterSets> = [
            "",
            "ISO_IR 13",
            "ISO_IR 192",
            "GB18030",
            "\\ISO 2022 IR 87\\ISO 2022 IR 159",
            "ISO 2022 IR 13\\ISO 2022 IR 87",
            "\\ISO 2022 IR 149",
            "\\ISO 2022 IR 58",
        ]
        .iter()
        .map(|t| cs(t))
        .collect();
        let mut state = 0x1234_5678_u32;
        for len in 0..200 {
            let raw: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    // Bias towards ESC and ISO 2022 intermediates.
                    match state % 7 {
                        0 => ESC,
                        1 => b"$()-^=\\"[(state >> 8) as usize % 7],
                        _ => (state >> 16) as u8,
                    }
                })
                .collect();
            for s in &sets {
                for vr in [*b"PN", *b"LO", *b"LT"] {
                    let _ = s.decode(&raw, vr);
                }
            }
        }
    }
}

#[cfg(test)]
mod proptests;
