//! Dependencies between sluice's modules point one way, and this test keeps it so.
//!
//! The library is layered: each top-level module may use only modules of the layers below its
//! own ([`LAYERS`]), so a change low in the tree never has to know about what sits above it,
//! and a new component (a Kafka output, a new filter) only ever reaches down. Inside every
//! module the same holds for its sub-modules without a declared order: no two of them may use
//! each other, directly or round a longer loop (`filters::date` and `filters::json` once did).
//!
//! The test reads `src/` itself rather than trusting the compiler, which accepts any loop
//! inside one crate. It follows the module tree from `src/lib.rs`, strips comments (an
//! intra-doc link is not a dependency) and string literals, and records every path that
//! starts with `crate::`, `super::` or `self::`, `use` groups included. Test code
//! (`#[cfg(test)]` items and modules) is left out: a module's tests may build it together with
//! the real components above it, as a crate's dev-dependencies may. A path through a parent's
//! re-export (`crate::event::FieldPath`) counts as a use of the parent, not of the file that
//! defines the item, so the sibling rule sees what the code names, which is what a reader sees.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest first. A module may use the modules of lower
/// layers only; modules of one layer do not use each other.
const LAYERS: &[(&str, &[&str])] = &[
    ("small shared helpers", &["sync"]),
    (
        "what components report: counters and readiness",
        &["metrics", "readiness"],
    ),
    ("the event, its batches and its helpers", &["event"]),
    ("the condition language over events", &["condition"]),
    ("the component model and its loader", &["config"]),
    ("the seam between inputs and workers", &["queue"]),
    (
        "connections to external systems that inputs and outputs share",
        &["kafka"],
    ),
    ("the components", &["inputs", "filters", "outputs"]),
    ("the runtime that wires them", &["pipeline"]),
    ("what runs a pipeline", &["api", "testing"]),
];

#[test]
fn top_level_modules_follow_the_declared_layers() {
    let tree = Tree::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let problems = tree.layer_problems(LAYERS);
    assert!(
        problems.is_empty(),
        "dependencies must point down the layers declared in tests/layers.rs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_module_has_an_import_cycle_between_its_sub_modules() {
    let tree = Tree::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let cycles = tree.cycles();
    assert!(
        cycles.is_empty(),
        "modules that use each other (break the loop by moving what both need below them):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_reader_sees_the_tree() {
    // Guards the two tests above against passing on a reader that finds nothing.
    let tree = Tree::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for module in ["event", "filters::script", "inputs::beats", "pipeline"] {
        assert!(tree.modules.contains(&path(module)), "{module} not found");
    }
    for (from, to) in [
        ("pipeline", "inputs"),
        ("filters", "event"),
        ("outputs", "event"),
    ] {
        assert!(
            tree.edges.contains_key(&(path(""), from.into(), to.into())),
            "{from} -> {to} not found"
        );
    }
    assert!(
        !tree
            .modules
            .iter()
            .any(|m| m.last().is_some_and(|n| n == "tests")),
        "test modules must be left out"
    );
}

#[test]
fn a_cycle_and_a_wrong_way_use_are_caught_and_tests_and_docs_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let file = src.join(name);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    };
    write("lib.rs", "pub mod low;\npub mod high;\n");
    write(
        "low/mod.rs",
        "//! Used by [`crate::high::Thing`].\nmod a;\nmod b;\n#[cfg(test)]\nmod tests;\n\
         #[cfg(test)]\nfn helper() { crate::high::thing(); }\n\
         pub fn text() -> &'static str { \"crate::high::x\" }\n",
    );
    write("low/tests.rs", "use crate::high::Thing;\n");
    write("low/a.rs", "use super::{b::B, c};\npub struct A;\n");
    write(
        "low/b.rs",
        "pub struct B(crate::low::a::A);\n#[cfg(test)]\nmod tests { use crate::high::Thing; }\n",
    );
    write("high.rs", "use crate::low::text;\npub struct Thing;\n");

    let tree = Tree::read(src.to_path_buf());
    let cycles = tree.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].starts_with("in low: a -> b -> a"), "{cycles:?}");
    let layers: &[(&str, &[&str])] = &[("low", &["low"]), ("high", &["high"])];
    assert_eq!(tree.layer_problems(layers), Vec::<String>::new());

    write("low/b.rs", "pub struct B(crate::high::Thing);\n");
    let tree = Tree::read(src.to_path_buf());
    let problems = tree.layer_problems(layers);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("low -> high"), "{problems:?}");
    assert!(problems[0].contains("low/b.rs:1"), "{problems:?}");
    assert!(tree.cycles()[0].starts_with("in crate: high -> low -> high"));
}

/// A module's path from the crate root; empty for the root.
type ModulePath = Vec<String>;

fn path(text: &str) -> ModulePath {
    text.split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// The module tree of one crate and the uses between sibling modules.
struct Tree {
    src: PathBuf,
    /// Every module outside test code, inline ones included.
    modules: BTreeSet<ModulePath>,
    /// (parent, user, used) for sub-modules of one parent, with the first place it happens.
    edges: BTreeMap<(ModulePath, String, String), String>,
}

impl Tree {
    fn read(src: PathBuf) -> Self {
        let mut files = Vec::new();
        let mut modules = BTreeSet::new();
        modules.insert(Vec::new());
        collect_files(
            &src.join("lib.rs"),
            true,
            Vec::new(),
            &mut files,
            &mut modules,
        );
        let mut tree = Self {
            src,
            modules,
            edges: BTreeMap::new(),
        };
        for (file, module) in files {
            let tokens = lex(&fs::read_to_string(&file).unwrap());
            for (from, to, line) in references(&tokens, &module) {
                tree.add_edge(&from, &to, &file, line);
            }
        }
        tree
    }

    /// Records that code in module `from` names `to`, as a use between the two sub-modules
    /// of their closest common parent.
    fn add_edge(&mut self, from: &[String], to: &[String], file: &Path, line: usize) {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common >= from.len() || common >= to.len() {
            return; // a use of an ancestor or of a descendant
        }
        if !self.modules.contains(&to[..=common]) {
            return; // an item of the parent (a re-export), not a sibling module
        }
        let place = format!(
            "{}:{line}",
            file.strip_prefix(&self.src).unwrap_or(file).display()
        );
        self.edges
            .entry((
                from[..common].to_vec(),
                from[common].clone(),
                to[common].clone(),
            ))
            .or_insert(place);
    }

    fn layer_problems(&self, layers: &[(&str, &[&str])]) -> Vec<String> {
        let mut problems = Vec::new();
        let mut layer_of = BTreeMap::new();
        for (index, (_, members)) in layers.iter().enumerate() {
            for member in *members {
                if layer_of.insert(member.to_string(), index).is_some() {
                    problems.push(format!("`{member}` is in two layers"));
                }
            }
        }
        let top: BTreeSet<String> = self
            .modules
            .iter()
            .filter(|m| m.len() == 1)
            .map(|m| m[0].clone())
            .collect();
        for module in &top {
            if !layer_of.contains_key(module) {
                problems.push(format!("`{module}` is in no layer: add it to LAYERS"));
            }
        }
        for module in layer_of.keys() {
            if !top.contains(module) {
                problems.push(format!("`{module}` is in LAYERS but not in src/lib.rs"));
            }
        }
        for ((parent, from, to), place) in &self.edges {
            if !parent.is_empty() {
                continue;
            }
            if let (Some(&low), Some(&high)) = (layer_of.get(to), layer_of.get(from)) {
                if low >= high {
                    problems.push(format!(
                        "{from} -> {to} ({place}): `{from}` is in layer \"{}\", `{to}` in \"{}\"",
                        layers[high].0, layers[low].0
                    ));
                }
            }
        }
        problems
    }

    /// One line per loop between the sub-modules of one module.
    fn cycles(&self) -> Vec<String> {
        let mut by_parent: BTreeMap<&ModulePath, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
        for (parent, from, to) in self.edges.keys() {
            by_parent
                .entry(parent)
                .or_default()
                .entry(from)
                .or_default()
                .push(to);
        }
        let mut found = Vec::new();
        for (parent, graph) in by_parent {
            for component in strongly_connected(&graph) {
                let cycle = shortest_cycle(&graph, &component);
                let places: Vec<String> = cycle
                    .windows(2)
                    .map(|pair| {
                        let key = (parent.clone(), pair[0].to_string(), pair[1].to_string());
                        format!("{} -> {} at {}", pair[0], pair[1], self.edges[&key])
                    })
                    .collect();
                let members: Vec<&str> = component.iter().copied().collect();
                found.push(format!(
                    "in {}: {} ({}); all of {} reach each other",
                    display(parent),
                    cycle.join(" -> "),
                    places.join("; "),
                    members.join(", ")
                ));
            }
        }
        found
    }
}

/// The groups of nodes that reach each other (Tarjan), those with more than one node.
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<BTreeSet<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<BTreeSet<&'a str>>,
    }
    fn visit<'a>(node: &'a str, graph: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let index = s.index.len();
        s.index.insert(node, index);
        s.low.insert(node, index);
        s.stack.push(node);
        s.on_stack.insert(node);
        for &next in graph.get(node).into_iter().flatten() {
            if !s.index.contains_key(next) {
                visit(next, graph, s);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = BTreeSet::new();
            while let Some(member) = s.stack.pop() {
                s.on_stack.remove(member);
                component.insert(member);
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for &node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(node, graph, &mut state);
        }
    }
    state.found
}

/// The shortest loop through the first node of `component`, as `a, b, ..., a`.
fn shortest_cycle<'a>(
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    component: &BTreeSet<&'a str>,
) -> Vec<&'a str> {
    let start = *component.iter().next().unwrap();
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in graph.get(node).into_iter().flatten() {
            if !component.contains(next) {
                continue;
            }
            if next == start {
                let mut cycle = vec![start, node];
                let mut at = node;
                while at != start {
                    at = previous[at];
                    cycle.push(at);
                }
                cycle.reverse();
                return cycle;
            }
            if !previous.contains_key(next) {
                previous.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    unreachable!("a strongly connected component has a loop through each node")
}

/// Every file of the module tree below `file` (test modules left out), with its module path.
fn collect_files(
    file: &Path,
    owns_directory: bool,
    module: ModulePath,
    files: &mut Vec<(PathBuf, ModulePath)>,
    modules: &mut BTreeSet<ModulePath>,
) {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let directory = if owns_directory {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let tokens = lex(&text);
    for declaration in module_declarations(&tokens) {
        let mut child = module.clone();
        child.extend(declaration.inline_parents);
        child.push(declaration.name.clone());
        modules.insert(child.clone());
        if !declaration.out_of_line {
            continue;
        }
        let flat = directory.join(format!("{}.rs", declaration.name));
        let nested = directory.join(&declaration.name).join("mod.rs");
        if flat.exists() {
            collect_files(&flat, false, child, files, modules);
        } else {
            collect_files(&nested, true, child, files, modules);
        }
    }
    files.push((file.to_path_buf(), module));
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Rust's tokens as far as paths need them, each with its line; comments, strings, character
/// literals, lifetimes and numbers are dropped.
fn lex(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let skip_to = |from: usize, to: usize, line: &mut usize| {
        *line += chars[from..to.min(chars.len())]
            .iter()
            .filter(|c| **c == '\n')
            .count();
        to
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let start = i;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            i = skip_to(start, i, &mut line);
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = skip_to(start, i + 1, &mut line);
        } else if c == '\'' {
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1; // a lifetime; its name is lexed as an identifier
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
            if (word == "r" || word == "br") && chars.get(i + hashes) == Some(&'"') {
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let body_start = i + hashes + 1;
                let rest: String = chars[body_start..].iter().collect();
                let body_chars = rest
                    .find(&close)
                    .map_or(rest.len(), |end| rest[..end].chars().count());
                i = skip_to(
                    i,
                    body_start + body_chars + close.chars().count(),
                    &mut line,
                );
            } else {
                tokens.push((Token::Ident(word), line));
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            tokens.push((Token::PathSep, line));
            i += 2;
        } else {
            if c == '\n' {
                line += 1;
            } else if !c.is_whitespace() {
                tokens.push((Token::Punct(c), line));
            }
            i += 1;
        }
    }
    tokens
}

fn is_ident(token: Option<&(Token, usize)>, name: &str) -> bool {
    matches!(token, Some((Token::Ident(word), _)) if word == name)
}

fn is_punct(token: Option<&(Token, usize)>, punct: char) -> bool {
    matches!(token, Some((Token::Punct(c), _)) if *c == punct)
}

/// Where an item starts and what the scanner knows about the code around it.
struct Scope {
    /// Inline modules (`mod name { ... }`) the scanner is in, with the depth of their brace.
    inline: Vec<(String, usize)>,
    /// Set while inside an item marked `#[cfg(test)]`: the brace depth it started at.
    test_item: Option<usize>,
    depth: usize,
    /// A `#[cfg(test)]` was seen and the item it applies to has not started yet.
    pending_test: bool,
}

/// What the scanner makes of token `index`, before the caller looks at it.
enum Step {
    /// Part of an attribute, or test code: not code of the module.
    Skip(usize),
    Code,
}

impl Scope {
    fn new() -> Self {
        Self {
            inline: Vec::new(),
            test_item: None,
            depth: 0,
            pending_test: false,
        }
    }

    fn in_test(&self) -> bool {
        self.test_item.is_some()
    }

    /// Tracks braces, attributes and test items; returns how far to move on.
    fn step(&mut self, tokens: &[(Token, usize)], index: usize) -> Step {
        let token = &tokens[index].0;
        if *token == Token::Punct('#') {
            let inner = is_punct(tokens.get(index + 1), '!');
            let open = index + 1 + usize::from(inner);
            if is_punct(tokens.get(open), '[') {
                let mut depth = 0;
                let mut end = open;
                while end < tokens.len() {
                    match tokens[end].0 {
                        Token::Punct('[') => depth += 1,
                        Token::Punct(']') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    end += 1;
                }
                let attribute = &tokens[open..end];
                let is_cfg = is_ident(attribute.get(1), "cfg");
                let names_test = attribute.iter().any(|t| t.0 == Token::Ident("test".into()));
                let negated = attribute.iter().any(|t| t.0 == Token::Ident("not".into()));
                if !inner && is_cfg && names_test && !negated && !self.in_test() {
                    self.pending_test = true;
                }
                return Step::Skip(end + 1 - index);
            }
        }
        match token {
            Token::Punct('{') => {
                if self.pending_test {
                    self.test_item = Some(self.depth);
                    self.pending_test = false;
                }
                self.depth += 1;
            }
            Token::Punct('}') => {
                self.depth = self.depth.saturating_sub(1);
                if self.inline.last().is_some_and(|(_, d)| *d == self.depth) {
                    self.inline.pop();
                }
                if self.test_item == Some(self.depth) {
                    self.test_item = None;
                }
            }
            Token::Punct(';') => {
                if self.pending_test {
                    self.pending_test = false;
                    return Step::Skip(1); // the end of a test-only `use` or `mod x;`
                }
                if self.test_item == Some(self.depth) {
                    self.test_item = None;
                }
            }
            _ => {}
        }
        if self.pending_test {
            self.test_item = Some(self.depth);
            self.pending_test = false;
        }
        if self.in_test() {
            Step::Skip(1)
        } else {
            Step::Code
        }
    }
}

struct ModuleDeclaration {
    name: String,
    /// `mod name;` (a file) rather than `mod name { ... }`.
    out_of_line: bool,
    /// The inline modules the declaration sits in.
    inline_parents: Vec<String>,
}

/// The `mod` items of a file outside test code.
fn module_declarations(tokens: &[(Token, usize)]) -> Vec<ModuleDeclaration> {
    let mut scope = Scope::new();
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Step::Skip(n) = scope.step(tokens, i) {
            i += n;
            continue;
        }
        if is_ident(tokens.get(i), "mod") {
            if let Some((Token::Ident(name), _)) = tokens.get(i + 1) {
                let parents = scope.inline.iter().map(|(n, _)| n.clone()).collect();
                if is_punct(tokens.get(i + 2), ';') {
                    found.push(ModuleDeclaration {
                        name: name.clone(),
                        out_of_line: true,
                        inline_parents: parents,
                    });
                } else if is_punct(tokens.get(i + 2), '{') {
                    found.push(ModuleDeclaration {
                        name: name.clone(),
                        out_of_line: false,
                        inline_parents: parents,
                    });
                    scope.inline.push((name.clone(), scope.depth));
                }
            }
        }
        i += 1;
    }
    found
}

/// Every (module, module path named, line) of a file of `module`, outside test code.
fn references(
    tokens: &[(Token, usize)],
    module: &[String],
) -> Vec<(ModulePath, ModulePath, usize)> {
    let mut scope = Scope::new();
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Step::Skip(n) = scope.step(tokens, i) {
            i += n;
            continue;
        }
        if is_ident(tokens.get(i), "mod")
            && is_punct(tokens.get(i + 2), '{')
            && matches!(tokens.get(i + 1), Some((Token::Ident(_), _)))
        {
            if let Some((Token::Ident(name), _)) = tokens.get(i + 1) {
                scope.inline.push((name.clone(), scope.depth));
            }
        }
        let starts_path = ["crate", "super", "self"]
            .iter()
            .any(|root| is_ident(tokens.get(i), root))
            && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep)
            && (i == 0 || tokens[i - 1].0 != Token::PathSep);
        if starts_path {
            let mut here = module.to_vec();
            here.extend(scope.inline.iter().map(|(n, _)| n.clone()));
            let line = tokens[i].1;
            for named in paths_at(tokens, i) {
                if let Some(target) = resolve(&here, &named) {
                    found.push((here.clone(), target, line));
                }
            }
        }
        i += 1;
    }
    found
}

/// The paths written at `start`: one, or one per member of a `use` group (`crate::{a, b::c}`),
/// each as far as its leading names go.
fn paths_at(tokens: &[(Token, usize)], start: usize) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    let mut i = start;
    loop {
        match tokens.get(i) {
            Some((Token::Ident(name), _)) => {
                prefix.push(name.clone());
                if tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep) {
                    i += 2;
                    continue;
                }
                return vec![prefix];
            }
            Some((Token::Punct('{'), _)) => {
                let mut paths = Vec::new();
                let mut depth = 0;
                let mut at_member_start = true;
                i += 1;
                while let Some((token, _)) = tokens.get(i) {
                    match token {
                        Token::Punct('{') => depth += 1,
                        Token::Punct('}') if depth == 0 => break,
                        Token::Punct('}') => depth -= 1,
                        Token::Punct(',') if depth == 0 => at_member_start = true,
                        Token::Ident(_) if at_member_start && depth == 0 => {
                            for tail in paths_at(tokens, i) {
                                let mut full = prefix.clone();
                                full.extend(tail);
                                paths.push(full);
                            }
                            at_member_start = false;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                return paths;
            }
            _ => return vec![prefix],
        }
    }
}

/// `named` (starting with `crate`, `super` or `self`) as a path from the crate root, read in
/// module `here`.
fn resolve(here: &[String], named: &[String]) -> Option<ModulePath> {
    let mut resolved = here.to_vec();
    let mut rest = named;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            resolved.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        _ => {}
    }
    while rest.first().is_some_and(|s| s == "super") {
        resolved.pop()?;
        rest = &rest[1..];
    }
    resolved.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(resolved)
}
