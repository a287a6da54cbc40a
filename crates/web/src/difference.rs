//! The characters in which what an applicant typed differs from what their card holds,
//! for the LRA's review page: a longest common subsequence over characters, so that one
//! wrong or missing character is marked alone, not the rest of the line.

/// A run of characters on one side, and how it compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The characters.
    pub text: String,
    /// Not in the other side at this place.
    pub differs: bool,
    /// A substitute character (外字 the card could not encode), on the card's side.
    pub substitute: bool,
}

/// The two sides of one basic item, in segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// The card's side.
    pub card: Vec<Segment>,
    /// The typed side.
    pub entered: Vec<Segment>,
    /// Whether the two are equal.
    pub equal: bool,
}

/// Beyond this many character pairs the sides are not aligned, only marked whole.
const MAX_CELLS: usize = 64 * 1024;

/// Compares `card` with `entered`; `substitutes` are the character positions of the card's
/// side that hold substitute characters.
pub fn compare(card: &str, entered: &str, substitutes: &[usize]) -> Compared {
    let a: Vec<char> = card.chars().collect();
    let b: Vec<char> = entered.chars().collect();
    let (keep_a, keep_b) = if a.len().saturating_mul(b.len()) > MAX_CELLS {
        let same = a == b;
        (vec![same; a.len()], vec![same; b.len()])
    } else {
        common(&a, &b)
    };
    let card_flags: Vec<(bool, bool)> = (0..a.len())
        .map(|i| (!keep_a[i], substitutes.contains(&i)))
        .collect();
    let entered_flags: Vec<(bool, bool)> = keep_b.iter().map(|k| (!k, false)).collect();
    Compared {
        card: segments(&a, &card_flags),
        entered: segments(&b, &entered_flags),
        equal: a == b,
    }
}

/// Which characters of each side are in a longest common subsequence.
fn common(a: &[char], b: &[char]) -> (Vec<bool>, Vec<bool>) {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            table[i * width + j] = if a[i] == b[j] {
                table[(i + 1) * width + j + 1] + 1
            } else {
                table[(i + 1) * width + j].max(table[i * width + j + 1])
            };
        }
    }
    let (mut keep_a, mut keep_b) = (vec![false; a.len()], vec![false; b.len()]);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            keep_a[i] = true;
            keep_b[j] = true;
            i += 1;
            j += 1;
        } else if table[(i + 1) * width + j] >= table[i * width + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    (keep_a, keep_b)
}

fn segments(chars: &[char], flags: &[(bool, bool)]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for (c, &(differs, substitute)) in chars.iter().zip(flags) {
        match out.last_mut() {
            Some(last) if last.differs == differs && last.substitute == substitute => {
                last.text.push(*c);
            }
            _ => out.push(Segment {
                text: c.to_string(),
                differs,
                substitute,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(segments: &[Segment]) -> String {
        segments
            .iter()
            .map(|s| match (s.differs, s.substitute) {
                (true, _) => format!("[{}]", s.text),
                (false, true) => format!("{{{}}}", s.text),
                _ => s.text.clone(),
            })
            .collect()
    }

    #[test]
    fn one_wrong_character_is_marked_alone() {
        let c = compare("山田\u{3000}太郎", "山田\u{3000}大郎", &[]);
        assert!(!c.equal);
        assert_eq!(marked(&c.card), "山田\u{3000}[太]郎");
        assert_eq!(marked(&c.entered), "山田\u{3000}[大]郎");
    }

    #[test]
    fn missing_and_extra_characters_are_marked_on_their_side() {
        let c = compare("東京都千代田区霞が関1-1", "東京都千代田区霞ケ関一1-1", &[]);
        assert_eq!(marked(&c.card), "東京都千代田区霞[が]関1-1");
        assert_eq!(marked(&c.entered), "東京都千代田区霞[ケ]関[一]1-1");
    }

    #[test]
    fn equal_items_have_no_mark_but_substitutes_are_shown() {
        let c = compare("髙橋", "髙橋", &[0]);
        assert!(c.equal);
        assert_eq!(marked(&c.card), "{髙}橋");
        assert_eq!(marked(&c.entered), "髙橋");
    }

    #[test]
    fn very_long_sides_are_marked_whole_without_aligning() {
        let long = "あ".repeat(300);
        let other = "い".repeat(300);
        let c = compare(&long, &other, &[]);
        assert_eq!(c.card.len(), 1);
        assert!(c.card[0].differs && c.entered[0].differs);
        assert!(compare(&long, &long, &[]).card.iter().all(|s| !s.differs));
    }
}
