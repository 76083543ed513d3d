//! The methods the translation knows, with the argument counts it accepts: one table for the
//! parser (which reports the others at their position) and the emitter.

/// Methods of Logstash's `event`, with the argument counts each takes.
const EVENT_METHODS: &[(&str, &[usize])] = &[
    ("get", &[1]),
    ("set", &[2]),
    ("remove", &[1]),
    ("tag", &[1]),
    ("cancel", &[0]),
    ("include?", &[1]),
    ("sprintf", &[1]),
];

/// Methods of strings, arrays and numbers.
const VALUE_METHODS: &[(&str, &[usize])] = &[
    ("length", &[0]),
    ("size", &[0]),
    ("to_i", &[0]),
    ("to_f", &[0]),
    ("to_s", &[0]),
    ("downcase", &[0]),
    ("upcase", &[0]),
    ("strip", &[0]),
    ("split", &[0, 1]),
    ("gsub", &[2]),
    ("sub", &[2]),
    ("include?", &[1]),
    ("start_with?", &[1]),
    ("end_with?", &[1]),
    ("match?", &[1]),
    ("nil?", &[0]),
    ("empty?", &[0]),
    ("first", &[0]),
    ("last", &[0]),
    ("join", &[0, 1]),
    ("abs", &[0]),
];

/// Why `method` with `arguments` arguments cannot be translated, or `None` when it can.
pub fn unsupported(on_event: bool, method: &str, arguments: usize) -> Option<String> {
    let (table, owner) = if on_event {
        (EVENT_METHODS, "event.")
    } else {
        (VALUE_METHODS, "")
    };
    match table.iter().find(|(name, _)| *name == method) {
        Some((_, counts)) if counts.contains(&arguments) => None,
        Some((_, counts)) => Some(format!(
            "`{owner}{method}` takes {} argument(s) here, not {arguments}",
            counts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        )),
        None => Some(format!(
            "the method `{owner}{method}` is not supported by the ruby translation (supported: {})",
            table
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
