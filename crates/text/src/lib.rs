//! Text as it is spoken: transliteration, spoken forms of numbers, currency, percentages, dates,
//! times and abbreviations, and splitting into sentences. The miner normalises prompts with it
//! before synthesis, and the validator normalises both the prompt and Whisper's transcript with it
//! before counting word errors, so both sides read "$3.50" or "Dr." the same way.
//!
//! The engines differ wildly in how they read "$3.50" or "Dr." (espeak, flite and festival each have
//! their own rules; Piper has none and reads whatever espeak's phonemizer does), so everything is
//! spelled out here once and every engine gets plain words.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Sentences longer than this are split further at clause punctuation or word boundaries, so one
/// inference stays short and latency predictable.
pub const MAX_SENTENCE_CHARS: usize = 300;

/// Rewrites `text` as plain ASCII words and punctuation (`. , ! ? ; : ' - ( ) "`).
/// Never panics; the result may be empty.
pub fn normalize(text: &str) -> String {
    let t = pre_transliterate(text);
    let t = deunicode::deunicode_with_tofu(&t, " ");
    let t = expand(&t);
    clean(&t)
}

/// Splits normalized text into sentences at `.`, `!`, `?` (and at clause punctuation or spaces
/// when a sentence is too long). Sentences with no letters or digits are dropped.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        current.push(c);
        if matches!(c, '.' | '!' | '?') {
            // Take the rest of a run like "?!" or '."' with the sentence.
            while i + 1 < chars.len() && matches!(chars[i + 1], '.' | '!' | '?' | '"' | ')' | '\'')
            {
                i += 1;
                current.push(chars[i]);
            }
            let at_end = i + 1 >= chars.len() || chars[i + 1].is_whitespace();
            if at_end && !ends_with_initial(&current) {
                push_sentence(&mut out, &current);
                current.clear();
            }
        }
        i += 1;
    }
    push_sentence(&mut out, &current);
    out
}

/// "J." in "J. K. Rowling" is an initial, not a sentence end.
fn ends_with_initial(s: &str) -> bool {
    let trimmed = s.trim_end_matches('.');
    let last_word = trimmed.rsplit(char::is_whitespace).next().unwrap_or("");
    last_word.len() == 1 && last_word.chars().all(|c| c.is_ascii_uppercase())
}

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if !s.chars().any(|c| c.is_ascii_alphanumeric()) {
        return;
    }
    if s.len() <= MAX_SENTENCE_CHARS {
        out.push(s);
        return;
    }
    // Too long: cut at the last clause mark, else the last space, before the limit.
    let mut rest = s.as_str();
    while rest.len() > MAX_SENTENCE_CHARS {
        // Normalized text is ASCII, but this is public: never slice inside a character.
        let limit = rest.floor_char_boundary(MAX_SENTENCE_CHARS);
        let window = &rest[..limit];
        let cut = window
            .rfind([',', ';', ':'])
            .map(|p| p + 1)
            .filter(|&p| p > MAX_SENTENCE_CHARS / 3)
            .or_else(|| window.rfind(' ').filter(|&p| p > 0))
            .unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        if head.chars().any(|c| c.is_ascii_alphanumeric()) {
            out.push(head.trim().to_owned());
        }
        rest = tail.trim_start();
    }
    if rest.chars().any(|c| c.is_ascii_alphanumeric()) {
        out.push(rest.trim().to_owned());
    }
}

/// Symbols that carry meaning and that transliteration would spell oddly.
fn pre_transliterate(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '€' => s.push_str(" EUR "),
            '£' => s.push_str(" GBP "),
            '¥' => s.push_str(" JPY "),
            '°' => s.push_str(" degrees "),
            '½' => s.push_str(" and a half "),
            '¼' => s.push_str(" and a quarter "),
            '¾' => s.push_str(" and three quarters "),
            '×' => s.push_str(" times "),
            '÷' => s.push_str(" divided by "),
            '±' => s.push_str(" plus or minus "),
            '‘' | '’' | '′' => s.push('\''),
            '“' | '”' | '″' | '«' | '»' => s.push('"'),
            '–' | '—' | '―' => s.push_str(", "),
            '…' => s.push_str("..."),
            c if c.is_control() => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

/// Keeps only what every engine can say; everything else becomes a space.
fn clean(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'a'..='z'
            | 'A'..='Z'
            | '0'..='9'
            | '.'
            | ','
            | '!'
            | '?'
            | ';'
            | ':'
            | '\''
            | '-'
            | '('
            | ')'
            | '"' => s.push(c),
            _ => s.push(' '),
        }
    }
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    // "word ," (left over from replacements) reads better and phonemizes the same as "word,".
    let mut out = String::with_capacity(joined.len());
    for c in joined.chars() {
        if matches!(c, ',' | '.' | '!' | '?' | ';' | ':') && out.ends_with(' ') {
            out.pop();
        }
        out.push(c);
    }
    out
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pat).expect("static regex compiles. This is a bug."));
    };
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

re!(ISO_DATE, r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b");
re!(US_DATE, r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b");
re!(
    CURRENCY,
    r"(?i)(\$|\bEUR\b|\bGBP\b|\bJPY\b)\s?(\d[\d,]*(?:\.\d+)?)(?:\s?(thousand|million|billion|trillion|[kmb]n?)\b)?"
);
re!(PERCENT, r"(\d[\d,]*(?:\.\d+)?)\s?%");
re!(ORDINAL, r"(?i)\b(\d+)(st|nd|rd|th)\b");
re!(TIME, r"\b(\d{1,2}):(\d{2})\b(?:\s?(?i)([ap])\.?m\b\.?)?");
re!(
    MONTH_DAY,
    r"\b(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?\s+(\d{1,2})\b"
);
re!(GROUPED, r"\d{1,3}(?:,\d{3})+(?:\.\d+)?");
re!(DECIMAL, r"\d*\.\d+");
re!(YEAR, r"\b(1[1-9]\d\d|20\d\d)s?\b");
re!(NEGATIVE, r"(^|[\s(])-(\d)");
re!(INTEGER, r"\d+");
re!(HASH_NUMBER, r"#\s?(\d)");
re!(
    UNIT,
    r"(\d)\s?(km|kg|cm|mm|mph|kph|lbs?|ft|mi|ms|GB|MB|kB|TB|Hz|kHz)\b"
);
re!(
    ABBREV,
    r"\b(Dr|Mr|Mrs|Ms|Prof|Jr|Sr|St|Mt|Ave|Blvd|Rd|Inc|Ltd|Co|Corp|Dept|Gov|Sen|Rep|Gen|Capt|Lt|Sgt|vs|etc|approx|est|No|Nos|Fig|Vol|ca|p|pp)\.(\s+\S)?"
);
re!(EG, r"(?i)\b(e\.g|i\.e|a\.m|p\.m)\.");
re!(URL_SCHEME, r"(?i)\b(?:https?|ftp)://");
re!(
    DOMAIN,
    r"(?i)\b([a-z0-9-]+)\.(com|org|net|io|ai|edu|gov|dev)\b"
);
re!(ACRONYM, r"\b((?:[A-Za-z]\.){2,})(\s*$)?");
re!(TITLE, r"\b(Mr|Mrs|Ms|Dr)\s+([A-Z])");
re!(
    PHONE,
    r"(?:\((\d{3})\)\s?|\b(\d{3})[\s.-])?\b(\d{3})-(\d{4})\b"
);
re!(DOLLAR_AFTER, r"(\d[\d,]*(?:\.\d+)?)\s?\$");
re!(FRACTION, r"\b(\d{1,2})/(\d{1,2})\b");
re!(VERSION, r"\b\d+(?:\.\d+){2,}\b");
re!(DECADE, r"'?\b([1-9]0)s\b");
re!(LETTER_DIGIT, r"([A-Za-z])(\d)");
re!(DIGIT_LETTER, r"(\d)(s[A-Za-z]|[A-Za-rt-z])");
re!(TEMPERATURE, r"\bdegrees\s+([CF])\b");

fn expand(text: &str) -> String {
    let t = EG.replace_all(text, |c: &Captures| {
        match c[1].to_ascii_lowercase().as_str() {
            "e.g" => " for example ",
            "i.e" => " that is ",
            "a.m" => " a m ",
            _ => " p m ",
        }
        .to_owned()
    });
    let t = URL_SCHEME.replace_all(&t, "");
    let t = DOMAIN.replace_all(&t, "$1 dot $2");
    let t = ACRONYM.replace_all(&t, |c: &Captures| {
        let letters: Vec<String> = c[1]
            .chars()
            .filter(char::is_ascii_alphabetic)
            .map(|l| l.to_ascii_uppercase().to_string())
            .collect();
        // Keep the full stop when the acronym ends the text ("... in the U.S.").
        let end = if c.get(2).is_some() { "." } else { "" };
        format!("{}{end}", letters.join(" "))
    });
    let t = ABBREV.replace_all(&t, expand_abbrev);
    let t = TITLE.replace_all(&t, |c: &Captures| {
        let title = match &c[1] {
            "Mr" => "Mister",
            "Mrs" => "Missus",
            "Ms" => "Miz",
            _ => "Doctor",
        };
        format!("{title} {}", &c[2])
    });
    let t = TEMPERATURE.replace_all(&t, |c: &Captures| {
        let scale = if &c[1] == "C" {
            "Celsius"
        } else {
            "Fahrenheit"
        };
        format!("degrees {scale}")
    });
    let t = PHONE.replace_all(&t, |c: &Captures| {
        // Phone numbers are read digit by digit, in groups.
        let groups: Vec<String> = [c.get(1).or(c.get(2)), c.get(3), c.get(4)]
            .into_iter()
            .flatten()
            .map(|m| digits_words(m.as_str()))
            .collect();
        groups.join(", ")
    });
    let t = DOLLAR_AFTER.replace_all(&t, "$$$1");
    let t = ISO_DATE.replace_all(&t, |c: &Captures| {
        date_words(&c[1], &c[2], &c[3]).unwrap_or_else(|| c[0].replace('-', " "))
    });
    let t = US_DATE.replace_all(&t, |c: &Captures| {
        date_words(&c[3], &c[1], &c[2]).unwrap_or_else(|| c[0].replace('/', " "))
    });
    let t = FRACTION.replace_all(&t, |c: &Captures| {
        fraction_words(&c[1], &c[2]).unwrap_or_else(|| format!("{} {}", &c[1], &c[2]))
    });
    let t = CURRENCY.replace_all(&t, currency_words);
    let t = PERCENT.replace_all(&t, |c: &Captures| format!("{} percent", number_text(&c[1])));
    let t = ORDINAL.replace_all(&t, |c: &Captures| {
        parse_u64(&c[1]).map_or_else(|| c[0].to_owned(), ordinal_words)
    });
    let t = TIME.replace_all(&t, time_words);
    let t = MONTH_DAY.replace_all(&t, |c: &Captures| {
        let month = full_month(&c[1]);
        match parse_u64(&c[2]) {
            Some(d @ 1..=31) => format!("{month} {}", ordinal_words(d)),
            _ => c[0].to_owned(),
        }
    });
    let t = HASH_NUMBER.replace_all(&t, "number $1");
    let t = UNIT.replace_all(&t, |c: &Captures| {
        format!("{} {}", &c[1], unit_words(&c[2]))
    });
    // What is left glued to letters ("MP3", "1e10") is read as separate words; a trailing "s"
    // stays for decades ("1990s").
    let t = LETTER_DIGIT.replace_all(&t, "$1 $2");
    let t = DIGIT_LETTER.replace_all(&t, "$1 $2");
    let t = VERSION.replace_all(&t, |c: &Captures| {
        c[0].split('.')
            .map(number_text)
            .collect::<Vec<_>>()
            .join(" point ")
    });
    let t = GROUPED.replace_all(&t, |c: &Captures| number_text(&c[0]));
    let t = NEGATIVE.replace_all(&t, "${1}minus $2");
    let t = DECIMAL.replace_all(&t, |c: &Captures| number_text(&c[0]));
    let t = YEAR.replace_all(&t, |c: &Captures| {
        let y = parse_u64(&c[1]).unwrap_or(0);
        let words = year_words(y);
        if c[0].ends_with('s') {
            plural_number(&words)
        } else {
            words
        }
    });
    let t = DECADE.replace_all(&t, |c: &Captures| {
        plural_number(&number_words(parse_u64(&c[1]).unwrap_or(0)))
    });
    let t = INTEGER.replace_all(&t, |c: &Captures| number_text(&c[0]));
    t.replace('&', " and ")
        .replace('@', " at ")
        .replace('+', " plus ")
        .replace('=', " equals ")
        .replace('%', " percent ")
}

fn expand_abbrev(c: &Captures) -> String {
    let next = c.get(2).map_or("", |m| m.as_str());
    let next_upper = next
        .trim_start()
        .starts_with(|ch: char| ch.is_ascii_uppercase());
    let next_digit = next
        .trim_start()
        .starts_with(|ch: char| ch.is_ascii_digit());
    let word: Cow<'_, str> = match &c[1] {
        "Dr" => "Doctor".into(),
        "Mr" => "Mister".into(),
        "Mrs" => "Missus".into(),
        "Ms" => "Miz".into(),
        "Prof" => "Professor".into(),
        "Jr" => "Junior".into(),
        "Sr" => "Senior".into(),
        // "St. Louis" vs "Main St."
        "St" if next_upper => "Saint".into(),
        "St" => "Street".into(),
        "Mt" => "Mount".into(),
        "Ave" => "Avenue".into(),
        "Blvd" => "Boulevard".into(),
        "Rd" => "Road".into(),
        "Inc" => "Incorporated".into(),
        "Ltd" => "Limited".into(),
        "Co" => "Company".into(),
        "Corp" => "Corporation".into(),
        "Dept" => "Department".into(),
        "Gov" => "Governor".into(),
        "Sen" => "Senator".into(),
        "Rep" => "Representative".into(),
        "Gen" => "General".into(),
        "Capt" => "Captain".into(),
        "Lt" => "Lieutenant".into(),
        "Sgt" => "Sergeant".into(),
        "vs" => "versus".into(),
        "etc" => "et cetera".into(),
        "approx" => "approximately".into(),
        "est" => "estimated".into(),
        "No" if next_digit => "number".into(),
        "Nos" if next_digit => "numbers".into(),
        "p" if next_digit => "page".into(),
        "pp" if next_digit => "pages".into(),
        "Fig" => "figure".into(),
        "Vol" => "volume".into(),
        "ca" => "circa".into(),
        _ => return c[0].to_owned(),
    };
    // An abbreviation at the very end ("... etc.") still ends the sentence.
    if next.is_empty() {
        format!("{word}.")
    } else {
        format!("{word}{next}")
    }
}

fn full_month(abbrev: &str) -> &'static str {
    let lower = abbrev.to_ascii_lowercase();
    MONTHS
        .iter()
        .find(|m| {
            m.to_ascii_lowercase()
                .starts_with(&lower[..lower.len().min(3)])
        })
        .copied()
        .unwrap_or("")
}

fn date_words(year: &str, month: &str, day: &str) -> Option<String> {
    let (y, m, d) = (parse_u64(year)?, parse_u64(month)?, parse_u64(day)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let month = usize::try_from(m - 1).ok().and_then(|i| MONTHS.get(i))?;
    Some(format!("{month} {}, {}", ordinal_words(d), year_words(y)))
}

/// "3/4" → "three quarters"; only proper fractions with small denominators (others are not
/// fractions: "24/7", "50/50").
fn fraction_words(num: &str, den: &str) -> Option<String> {
    let (n, d) = (parse_u64(num)?, parse_u64(den)?);
    if n == 0 || n >= d || !(2..=10).contains(&d) {
        return None;
    }
    let unit = match d {
        2 => "half".to_owned(),
        4 => "quarter".to_owned(),
        _ => ordinal_words(d),
    };
    let unit = match (n, d) {
        (1, _) => unit,
        (_, 2) => "halves".to_owned(),
        _ => format!("{unit}s"),
    };
    Some(format!("{} {unit}", number_words(n)))
}

fn unit_words(unit: &str) -> &'static str {
    match unit {
        "km" => "kilometers",
        "kg" => "kilograms",
        "cm" => "centimeters",
        "mm" => "millimeters",
        "mph" => "miles per hour",
        "kph" => "kilometers per hour",
        "lb" | "lbs" => "pounds",
        "ft" => "feet",
        "mi" => "miles",
        "ms" => "milliseconds",
        "GB" => "gigabytes",
        "MB" => "megabytes",
        "kB" => "kilobytes",
        "TB" => "terabytes",
        "Hz" => "hertz",
        "kHz" => "kilohertz",
        _ => "",
    }
}

fn currency_words(c: &Captures) -> String {
    let (major_one, major_many, minor_one, minor_many) = match c[1].to_ascii_uppercase().as_str() {
        "EUR" => ("euro", "euros", "cent", "cents"),
        "GBP" => ("pound", "pounds", "penny", "pence"),
        "JPY" => ("yen", "yen", "sen", "sen"),
        _ => ("dollar", "dollars", "cent", "cents"),
    };
    let amount = c[2].replace(',', "");
    if let Some(scale) = c.get(3) {
        let scale = match scale.as_str().to_ascii_lowercase().as_str() {
            "k" => "thousand".to_owned(),
            "m" | "mn" => "million".to_owned(),
            "b" | "bn" => "billion".to_owned(),
            other => other.to_owned(),
        };
        return format!("{} {scale} {major_many}", number_text(&amount));
    }
    let (whole, frac) = amount.split_once('.').unwrap_or((&amount, ""));
    let Some(whole_n) = parse_u64(whole) else {
        return format!("{} {major_many}", number_text(&amount));
    };
    // Cents only make sense with exactly two decimals; "$1.5" reads as "one point five dollars".
    if !frac.is_empty() && frac.len() != 2 {
        return format!("{} {major_many}", number_text(&amount));
    }
    let cents = parse_u64(frac).unwrap_or(0);
    let major = format!(
        "{} {}",
        number_words(whole_n),
        if whole_n == 1 { major_one } else { major_many }
    );
    let minor = format!(
        "{} {}",
        number_words(cents),
        if cents == 1 { minor_one } else { minor_many }
    );
    match (whole_n, cents) {
        (_, 0) => major,
        (0, _) => minor,
        _ => format!("{major} and {minor}"),
    }
}

fn time_words(c: &Captures) -> String {
    let (Some(h), Some(m)) = (parse_u64(&c[1]), parse_u64(&c[2])) else {
        return c[0].to_owned();
    };
    if h > 24 || m > 59 {
        // Not a clock time (a ratio or a score): read the numbers.
        return format!("{} {}", number_words(h), number_words(m));
    }
    let suffix = c
        .get(3)
        .map(|p| format!(" {} m", p.as_str().to_ascii_lowercase()))
        .unwrap_or_default();
    let minutes = match m {
        0 if suffix.is_empty() => " o'clock".to_owned(),
        0 => String::new(),
        1..=9 => format!(" oh {}", number_words(m)),
        _ => format!(" {}", number_words(m)),
    };
    format!("{}{minutes}{suffix}", number_words(h))
}

fn parse_u64(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// Reads a numeric token: grouped ("1,234"), decimal ("3.14") or plain; very long digit runs are
/// read digit by digit.
fn number_text(token: &str) -> String {
    let token = token.replace(',', "");
    let (whole, frac) = match token.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (token.as_str(), None),
    };
    let mut out = if whole.is_empty() {
        "zero".to_owned()
    } else {
        match parse_u64(whole) {
            Some(n) if n < 1_000_000_000_000_000 => number_words(n),
            _ => digits_words(whole),
        }
    };
    if let Some(f) = frac.filter(|f| !f.is_empty()) {
        out.push_str(" point ");
        out.push_str(&digits_words(f));
    }
    out
}

fn digits_words(digits: &str) -> String {
    digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| ONES[d as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(u64, &str); 4] = [
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];

/// Cardinal number in words: 1234 → "one thousand two hundred thirty-four".
pub fn number_words(n: u64) -> String {
    if n < 20 {
        return ONES[n as usize].to_owned();
    }
    if n < 100 {
        let (t, o) = (n / 10, n % 10);
        return if o == 0 {
            TENS[t as usize].to_owned()
        } else {
            format!("{}-{}", TENS[t as usize], ONES[o as usize])
        };
    }
    if n < 1000 {
        let (h, rest) = (n / 100, n % 100);
        return if rest == 0 {
            format!("{} hundred", ONES[h as usize])
        } else {
            format!("{} hundred {}", ONES[h as usize], number_words(rest))
        };
    }
    for (scale, name) in SCALES {
        if n >= scale {
            let (high, rest) = (n / scale, n % scale);
            return if rest == 0 {
                format!("{} {name}", number_words(high))
            } else {
                format!("{} {name} {}", number_words(high), number_words(rest))
            };
        }
    }
    unreachable!("all numbers >= 1000 have a scale. This is a bug.")
}

/// Ordinal in words: 21 → "twenty-first".
pub fn ordinal_words(n: u64) -> String {
    let cardinal = number_words(n);
    // Only the last word changes: "twenty-one" → "twenty-first".
    let split = cardinal.rfind([' ', '-']).map_or(0, |p| p + 1);
    let (head, last) = cardinal.split_at(split);
    let last = match last {
        "one" => "first".to_owned(),
        "two" => "second".to_owned(),
        "three" => "third".to_owned(),
        "five" => "fifth".to_owned(),
        "eight" => "eighth".to_owned(),
        "nine" => "ninth".to_owned(),
        "twelve" => "twelfth".to_owned(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// Year in words: 1999 → "nineteen ninety-nine", 2005 → "two thousand five", 2024 → "twenty
/// twenty-four".
pub fn year_words(y: u64) -> String {
    let (hi, lo) = (y / 100, y % 100);
    if !(1100..10_000).contains(&y) || (2000..2010).contains(&y) || y.is_multiple_of(1000) {
        return number_words(y);
    }
    match lo {
        0 => format!("{} hundred", number_words(hi)),
        1..=9 => format!("{} oh {}", number_words(hi), number_words(lo)),
        _ => format!("{} {}", number_words(hi), number_words(lo)),
    }
}

/// "nineteen ninety" → "nineteen nineties" (for "1990s").
fn plural_number(words: &str) -> String {
    if let Some(stem) = words.strip_suffix('y') {
        format!("{stem}ies")
    } else if words.ends_with('x') {
        format!("{words}es")
    } else {
        format!("{words}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s)
    }

    #[test]
    fn cardinals_and_ordinals() {
        assert_eq!(number_words(0), "zero");
        assert_eq!(number_words(42), "forty-two");
        assert_eq!(number_words(100), "one hundred");
        assert_eq!(
            number_words(1_234_567),
            "one million two hundred thirty-four thousand five hundred sixty-seven"
        );
        assert_eq!(ordinal_words(1), "first");
        assert_eq!(ordinal_words(12), "twelfth");
        assert_eq!(ordinal_words(21), "twenty-first");
        assert_eq!(ordinal_words(40), "fortieth");
        assert_eq!(ordinal_words(103), "one hundred third");
        assert_eq!(
            n("the 2nd and 23rd and 11th"),
            "the second and twenty-third and eleventh"
        );
    }

    #[test]
    fn years_and_dates() {
        assert_eq!(year_words(1999), "nineteen ninety-nine");
        assert_eq!(year_words(2024), "twenty twenty-four");
        assert_eq!(year_words(2005), "two thousand five");
        assert_eq!(year_words(1905), "nineteen oh five");
        assert_eq!(year_words(1900), "nineteen hundred");
        assert_eq!(n("In 1999 we met."), "In nineteen ninety-nine we met.");
        assert_eq!(n("the 1980s"), "the nineteen eighties");
        assert_eq!(n("Due 2024-03-05."), "Due March fifth, twenty twenty-four.");
        assert_eq!(
            n("on 12/25/2023"),
            "on December twenty-fifth, twenty twenty-three"
        );
        assert_eq!(n("March 3, 2024"), "March third, twenty twenty-four");
        assert_eq!(n("Jan. 1"), "January first");
    }

    #[test]
    fn currency_and_percent() {
        assert_eq!(n("$3.50"), "three dollars and fifty cents");
        assert_eq!(n("$1"), "one dollar");
        assert_eq!(n("$0.99"), "ninety-nine cents");
        assert_eq!(n("$1,250"), "one thousand two hundred fifty dollars");
        assert_eq!(n("$5 million"), "five million dollars");
        assert_eq!(n("€20"), "twenty euros");
        assert_eq!(n("£1.01"), "one pound and one penny");
        assert_eq!(n("50%"), "fifty percent");
        assert_eq!(n("3.5 %"), "three point five percent");
    }

    #[test]
    fn numbers_and_times() {
        assert_eq!(n("pi is 3.14"), "pi is three point one four");
        assert_eq!(n("1,000,000 people"), "one million people");
        assert_eq!(n("it is -5 outside"), "it is minus five outside");
        assert_eq!(n("at 3:30 pm"), "at three thirty p m");
        assert_eq!(n("at 10:00"), "at ten o'clock");
        assert_eq!(n("at 9:05 AM"), "at nine oh five a m");
        assert_eq!(n("room #4"), "room number four");
        assert_eq!(n("5 km"), "five kilometers");
        assert_eq!(
            n("12345678901234567890"),
            "one two three four five six seven eight nine zero one two three four five six seven eight nine zero"
        );
    }

    #[test]
    fn everyday_formats() {
        assert_eq!(
            n("Call 555-1234 now"),
            "Call five five five, one two three four now"
        );
        assert_eq!(
            n("(212) 555-1234"),
            "two one two, five five five, one two three four"
        );
        assert_eq!(
            n("1/2 cup and 3/4 mile"),
            "one half cup and three quarters mile"
        );
        assert_eq!(n("open 24/7"), "open twenty-four seven");
        assert_eq!(n("the '90s and 80s"), "the nineties and eighties");
        assert_eq!(n("Version 2.0.1"), "Version two point zero point one");
        assert_eq!(n("it costs 5$"), "it costs five dollars");
        assert_eq!(n("20°C"), "twenty degrees Celsius");
        assert_eq!(n("see https://example.com"), "see example dot com");
        assert_eq!(
            split_sentences(&n("The U.S.A. is big. I live in the U.K.")),
            vec!["The U S A is big.", "I live in the U K."]
        );
        assert_eq!(n("Mr Smith and Dr Jones"), "Mister Smith and Doctor Jones");
        assert_eq!(n("MP3 and 1e10"), "MP three and one e ten");
        assert_eq!(n("see p. 45"), "see page forty-five");
    }

    #[test]
    fn abbreviations() {
        assert_eq!(
            n("Dr. Smith met Mr. Jones."),
            "Doctor Smith met Mister Jones."
        );
        assert_eq!(n("St. Louis"), "Saint Louis");
        assert_eq!(n("on Main St. today"), "on Main Street today");
        assert_eq!(n("cats, dogs, etc."), "cats, dogs, et cetera.");
        assert_eq!(n("e.g. this"), "for example this");
        assert_eq!(n("No. 5"), "number five");
        assert_eq!(n("Tom & Jerry"), "Tom and Jerry");
    }

    #[test]
    fn non_ascii_is_transliterated_or_dropped() {
        assert_eq!(n("Café déjà vu"), "Cafe deja vu");
        assert_eq!(n("“Quoted” — text…"), "\"Quoted\", text...");
        assert_eq!(n("naïve Straße"), "naive Strasse");
        assert_eq!(n("a\u{0}b\u{7}c"), "a b c");
        assert!(n("🦀🦀").is_ascii());
    }

    #[test]
    fn sentences_are_split() {
        let s = split_sentences(&n(
            "Hello there. Dr. Who is here! Is he? J. K. Rowling wrote it. The end",
        ));
        assert_eq!(
            s,
            vec![
                "Hello there.",
                "Doctor Who is here!",
                "Is he?",
                "J. K. Rowling wrote it.",
                "The end"
            ]
        );
        let long = "word, ".repeat(200);
        let parts = split_sentences(&long);
        assert!(parts.len() > 3);
        assert!(parts.iter().all(|p| p.len() <= MAX_SENTENCE_CHARS));
        assert!(split_sentences("... !!! ?").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn normalize_never_panics(s in "\\PC*") {
            let out = normalize(&s);
            proptest::prop_assert!(out.is_ascii());
        }

        #[test]
        fn numbers_always_become_words(s in "[0-9$%.,:/ -]{0,40}") {
            let out = normalize(&s);
            proptest::prop_assert!(!out.chars().any(|c| c.is_ascii_digit()), "{:?} -> {:?}", s, out);
        }

        #[test]
        fn splitting_raw_text_never_panics(s in "\\PC{0,700}") {
            for sentence in split_sentences(&s) {
                proptest::prop_assert!(!sentence.is_empty());
            }
        }

        #[test]
        fn sentences_are_bounded(s in "[a-zA-Z0-9 .,!?]{0,1200}") {
            for sentence in split_sentences(&normalize(&s)) {
                proptest::prop_assert!(sentence.len() <= MAX_SENTENCE_CHARS);
                proptest::prop_assert!(!sentence.is_empty());
            }
        }
    }
}
