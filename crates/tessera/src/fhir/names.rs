//! Person names (DICOM PN) as FHIR display strings.
//!
//! Decision: the Alphabetic group is written the way names are read in Latin script, given
//! name first (`Doe^John^A^Dr^Jr` → `Dr John A Doe Jr`); the Ideographic and Phonetic groups
//! keep their family-name-first order (`山田^太郎` → `山田 太郎`). The first group present is the
//! display; the others follow in parentheses:
//! `Yamada^Tarou=山田^太郎=やまだ^たろう` → `Tarou Yamada (山田 太郎, やまだ たろう)`.
//! Text stays UTF-8 as the index holds it.

fn components(group: &str) -> Vec<&str> {
    group.split('^').map(str::trim).collect()
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One Alphabetic group, given name first.
fn latin(group: &str) -> String {
    let c = components(group);
    let get = |i: usize| c.get(i).copied().unwrap_or("");
    join(&[get(3), get(1), get(2), get(0), get(4)])
}

/// One Ideographic or Phonetic group, in its own (family first) order.
fn native(group: &str) -> String {
    join(&components(group))
}

/// The display text of a name given as its (Alphabetic, Ideographic, Phonetic) groups.
pub fn display(groups: &[Option<String>; 3]) -> Option<String> {
    let rendered: Vec<String> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let g = g.as_deref()?;
            let text = if i == 0 { latin(g) } else { native(g) };
            (!text.is_empty()).then_some(text)
        })
        .collect();
    let (main, rest) = rendered.split_first()?;
    if rest.is_empty() {
        Some(main.clone())
    } else {
        Some(format!("{main} ({})", rest.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(a: &str, i: &str, p: &str) -> Option<String> {
        let g = |s: &str| (!s.is_empty()).then(|| s.to_string());
        display(&[g(a), g(i), g(p)])
    }

    #[test]
    fn renders_readably() {
        assert_eq!(name("Doe^John", "", "").as_deref(), Some("John Doe"));
        assert_eq!(
            name("Doe^John^A^Dr^Jr", "", "").as_deref(),
            Some("Dr John A Doe Jr")
        );
        assert_eq!(name("Doe", "", "").as_deref(), Some("Doe"));
        assert_eq!(
            name("Yamada^Tarou", "山田^太郎", "やまだ^たろう").as_deref(),
            Some("Tarou Yamada (山田 太郎, やまだ たろう)")
        );
        assert_eq!(name("", "김희중", "").as_deref(), Some("김희중"));
        assert_eq!(name("^^^", "", ""), None);
    }
}
