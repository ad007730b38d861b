//! The documentation: `README.md` and the pages under `docs/`.
//!
//! - Every relative link (to a page, a picture, or a `#heading` in one) leads
//!   somewhere that exists.
//! - Every `vigil` command line quoted in a fenced code block parses with
//!   vigil's own command-line definition (`vigil::cli::Cli`), so a renamed
//!   or misspelled flag in the docs fails here. A command line is one that
//!   starts with `vigil`, a path ending in `/vigil` or
//!   `cargo run --release --` (after a `$ ` prompt, `sudo` or `VAR=value`), in
//!   any part of a pipeline or `&&` list. Blocks fenced as `text` are not
//!   checked: they hold usage synopses and output, not commands to run.
//! - The README's first block is the two commands a newcomer runs, and the
//!   first one does what the README says it does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser;

use crate::testenv::{vigil_bin, EICAR_NAME};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and every `docs/*.md`, as (path relative to the repository,
/// text).
fn pages() -> Vec<(PathBuf, String)> {
    let root = repo();
    let mut paths = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(root.join(&p)).unwrap();
            (p, text)
        })
        .collect()
}

/// A fenced code block: its info string (`sh`, `text`, ...), and its lines
/// with their 1-based line numbers.
struct Block {
    info: String,
    lines: Vec<(usize, String)>,
}

/// The fenced code blocks of a Markdown text, and the lines outside them.
fn split_blocks(text: &str) -> (Vec<Block>, Vec<(usize, &str)>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            Some(block) if fence => blocks.push(block),
            Some(mut block) => {
                block.lines.push((n, line.to_string()));
                open = Some(block);
            }
            None if fence => {
                let info = line.trim_start().trim_start_matches('`').trim().to_string();
                open = Some(Block {
                    info,
                    lines: Vec::new(),
                });
            }
            None => prose.push((n, line)),
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    (blocks, prose)
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// made hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (a repeated heading gets `-1`, `-2`, ...
/// as on GitHub).
fn anchors(text: &str) -> BTreeSet<String> {
    let (_, prose) = split_blocks(text);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let base = slug(title);
        let count = seen.entry(base.clone()).or_default();
        out.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    out
}

/// The targets of the inline links and pictures (`[text](target)`) in the
/// prose of a page, with their line numbers. Inline code spans are skipped.
fn links(text: &str) -> Vec<(usize, String)> {
    let (_, prose) = split_blocks(text);
    let mut out = Vec::new();
    for (n, line) in prose {
        let mut in_code = false;
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'`' => in_code = !in_code,
                b']' if !in_code && bytes.get(i + 1) == Some(&b'(') => {
                    if let Some(len) = line[i + 2..].find(')') {
                        out.push((n, line[i + 2..i + 2 + len].to_string()));
                        i += 2 + len;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// Every broken relative link of `page` (a path relative to the repository),
/// as `page:line: target: why`.
fn broken_links(page: &Path, text: &str) -> Vec<String> {
    let root = repo();
    let dir = page.parent().unwrap_or(Path::new(""));
    let mut faults = Vec::new();
    for (n, target) in links(text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let (path, page_text) = if file.is_empty() {
            (page.to_path_buf(), Some(text.to_string()))
        } else {
            let path = dir.join(file);
            let page_text = std::fs::read_to_string(root.join(&path)).ok();
            if !root.join(&path).exists() {
                faults.push(format!("{}:{n}: {target}: no such file", page.display()));
                continue;
            }
            (path, page_text)
        };
        if let Some(anchor) = anchor {
            let known = page_text.as_deref().map(anchors).unwrap_or_default();
            if !known.contains(anchor) {
                faults.push(format!(
                    "{}:{n}: {target}: {} has no heading #{anchor}",
                    page.display(),
                    path.display()
                ));
            }
        }
    }
    faults
}

/// Splits a shell line into its simple commands (at `|`, `&&`, `||`, `;`,
/// `&`), each as its words: quotes removed, redirections and a trailing
/// `# comment` dropped. Enough of the shell for command lines in docs.
fn shell_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut skip_next_word = false;
    let mut chars = line.chars().peekable();
    let finish = |word: &mut Option<String>, commands: &mut Vec<Vec<String>>, skip: &mut bool| {
        if let Some(w) = word.take() {
            if *skip {
                *skip = false;
            } else {
                commands.last_mut().unwrap().push(w);
            }
        }
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => finish(&mut word, &mut commands, &mut skip_next_word),
            '#' if word.is_none() => break,
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.push(chars.next().unwrap())
                        }
                        _ => w.push(c),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    word.get_or_insert_with(String::new).push(c);
                }
            }
            '|' | '&' | ';' => {
                finish(&mut word, &mut commands, &mut skip_next_word);
                while matches!(chars.peek(), Some('|' | '&')) {
                    chars.next();
                }
                commands.push(Vec::new());
            }
            '>' | '<' => {
                // `2>`: the digits were the descriptor, not a word.
                if word
                    .as_deref()
                    .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
                {
                    word = None;
                }
                finish(&mut word, &mut commands, &mut skip_next_word);
                while matches!(chars.peek(), Some('>' | '&')) {
                    chars.next();
                }
                skip_next_word = true;
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    finish(&mut word, &mut commands, &mut skip_next_word);
    commands.retain(|c| !c.is_empty());
    commands
}

/// The arguments after `vigil` if `words` runs vigil, else `None`.
fn vigil_args(words: &[String]) -> Option<Vec<String>> {
    let mut words = words;
    while let Some(first) = words.first() {
        let assignment = first.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if first == "$" || first == "sudo" || assignment {
            words = &words[1..];
        } else {
            break;
        }
    }
    let first = words.first()?;
    if first == "vigil" || first.ends_with("/vigil") {
        return Some(words[1..].to_vec());
    }
    if first == "cargo" && words.get(1).is_some_and(|w| w == "run") {
        let dashes = words.iter().position(|w| w == "--")?;
        return Some(words[dashes + 1..].to_vec());
    }
    None
}

/// The vigil command lines of a page's checked code blocks: (line, the line
/// as written, the arguments after `vigil`).
fn vigil_commands(text: &str) -> Vec<(usize, String, Vec<String>)> {
    let (blocks, _) = split_blocks(text);
    let mut out = Vec::new();
    for block in blocks.iter().filter(|b| b.info != "text") {
        let mut pending: Option<(usize, String)> = None;
        for (n, line) in &block.lines {
            let (start, joined) = match pending.take() {
                Some((start, before)) => (start, format!("{before} {line}")),
                None => (*n, line.clone()),
            };
            if let Some(head) = joined.strip_suffix('\\') {
                pending = Some((start, head.to_string()));
                continue;
            }
            for words in shell_commands(&joined) {
                if let Some(args) = vigil_args(&words) {
                    out.push((start, joined.trim().to_string(), args));
                }
            }
        }
    }
    out
}

/// Why clap refuses `args`, or `None` if it accepts them (asking for help or
/// the version counts as accepted).
fn clap_refuses(args: &[String]) -> Option<String> {
    let argv = std::iter::once("vigil".to_string()).chain(args.iter().cloned());
    match vigil::cli::Cli::try_parse_from(argv) {
        Ok(_) => None,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            None
        }
        Err(e) => Some(e.to_string().lines().next().unwrap_or("").to_string()),
    }
}

/// Every vigil command line of a page that clap refuses, as
/// `page:line: command: error`.
fn bad_commands(page: &Path, text: &str) -> Vec<String> {
    vigil_commands(text)
        .into_iter()
        .filter_map(|(n, line, args)| {
            clap_refuses(&args).map(|why| format!("{}:{n}: `{line}`: {why}", page.display()))
        })
        .collect()
}

#[test]
fn readme_links_to_the_docs_pages() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let linked: BTreeSet<String> = links(&readme)
        .into_iter()
        .filter_map(|(_, t)| {
            t.strip_prefix("docs/")
                .map(|p| p.split('#').next().unwrap().to_string())
        })
        .collect();
    for page in [
        "scan.md",
        "daemon.md",
        "ctl.md",
        "quarantine.md",
        "sigs.md",
        "bench.md",
        "signatures.md",
        "index-format.md",
        "containers.md",
        "clamd-protocol.md",
        "performance.md",
        "security.md",
        "clamav-differences.md",
        "install.md",
        "cache.md",
    ] {
        assert!(
            linked.contains(page),
            "README.md does not link to docs/{page}"
        );
    }
}

#[test]
fn every_link_in_the_docs_leads_somewhere() {
    let pages = pages();
    assert!(pages.len() > 10, "README.md and the docs/ pages are read");
    let faults: Vec<String> = pages
        .iter()
        .flat_map(|(page, text)| broken_links(page, text))
        .collect();
    assert!(faults.is_empty(), "broken links:\n{}", faults.join("\n"));
}

#[test]
fn every_vigil_command_line_in_the_docs_parses() {
    let pages = pages();
    let checked: usize = pages
        .iter()
        .map(|(_, text)| vigil_commands(text).len())
        .sum();
    assert!(
        checked >= 15,
        "only {checked} vigil command lines were found to check"
    );
    let faults: Vec<String> = pages
        .iter()
        .flat_map(|(page, text)| bad_commands(page, text))
        .collect();
    assert!(
        faults.is_empty(),
        "command lines clap refuses:\n{}",
        faults.join("\n")
    );
}

#[test]
fn the_checks_catch_a_broken_link_and_a_misspelled_flag() {
    let page = Path::new("docs/scan.md");
    let text = "# Title\n\n## Two words\n\nSee [a](daemon.md), [b](nothing-here.md), [c](#two-words), \
                [d](#no-such-heading), [e](daemon.md#configuration), [f](daemon.md#nope), \
                and `[g](not-a-link.md)`.\n\n```sh\nvigil scan --infected .\nvigil scan --infectd .\n\
                printf x | cargo run --release -- scan --json -\nsudo vigil quarantine lst  # comment\n\
                vigil daemon --watch /srv \\\n    --settle 5s\n```\n\n```text\nvigil scan [-d DB]...\n```\n";
    let links = broken_links(page, text);
    assert_eq!(
        links,
        [
            "docs/scan.md:5: nothing-here.md: no such file",
            "docs/scan.md:5: #no-such-heading: docs/scan.md has no heading #no-such-heading",
            "docs/scan.md:5: daemon.md#nope: docs/daemon.md has no heading #nope",
        ]
    );
    let commands: Vec<(usize, Vec<String>)> = vigil_commands(text)
        .into_iter()
        .map(|(n, _, args)| (n, args))
        .collect();
    let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    assert_eq!(
        commands,
        [
            (8, words("scan --infected .")),
            (9, words("scan --infectd .")),
            (10, words("scan --json -")),
            (11, words("quarantine lst")),
            (12, words("daemon --watch /srv --settle 5s")),
        ]
    );
    let bad = bad_commands(page, text);
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(
        bad[0].starts_with(
            "docs/scan.md:9: `vigil scan --infectd .`: error: unexpected argument '--infectd'"
        ),
        "{bad:#?}"
    );
    assert!(bad[1].starts_with("docs/scan.md:11: "), "{bad:#?}");
}

#[test]
fn shell_lines_split_into_commands_as_sh_would() {
    let words = |s: &[&str]| s.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    assert_eq!(
        shell_commands(r#"printf '%s' 'a b\c' | vigil scan "x y" -d db 2>err.txt > out  # note"#),
        [
            words(&["printf", "%s", r"a b\c"]),
            words(&["vigil", "scan", "x y", "-d", "db"])
        ]
    );
    assert_eq!(
        shell_commands("cargo build && V=1 ./target/release/vigil bench 2>&1; echo a#b"),
        [
            words(&["cargo", "build"]),
            words(&["V=1", "./target/release/vigil", "bench"]),
            words(&["echo", "a#b"]),
        ]
    );
}

/// The README's first code block: exactly two commands, the second runs the
/// tests, the first scans the EICAR test file on standard input with the
/// built-in set. It is run here with the built binary in place of
/// `cargo run --release --` (building a release inside the tests would take
/// minutes); the words are the README's.
#[test]
fn readme_first_commands_do_what_the_readme_says() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (blocks, _) = split_blocks(&readme);
    let first = &blocks[0];
    assert_eq!(first.info, "sh");
    let lines: Vec<&str> = first.lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        lines.len(),
        2,
        "the first screen has exactly two commands: {lines:#?}"
    );
    assert_eq!(lines[1], "cargo test");
    let cargo_run = "cargo run --release --";
    assert!(lines[0].contains(cargo_run), "{}", lines[0]);
    let line = lines[0].replace(cargo_run, &format!("'{}'", vigil_bin().display()));
    let out = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{line}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = format!("stdin: {EICAR_NAME} FOUND");
    assert_eq!(stdout.lines().next(), Some(found.as_str()), "{stdout}");
    assert!(stdout.contains("SCAN SUMMARY"), "{stdout}");
    assert!(
        readme.contains(&format!("`{found}`")),
        "the README quotes the line the command prints"
    );
}
