//! Whether TorchServe can resolve the handler's entry point (contract 1.4,
//! ts/model_loader.py `TsModelLoader.load`), judged from the module's syntax tree:
//! `module:fn` -> `fn(data, context)` when the module binds `fn` (default `handle`);
//! otherwise exactly one class defined in the module, instantiated with no arguments, whose
//! `initialize(context)` and `handle(data, context)` are called.

use super::python::{self, Binding, ClassFacts, Probe, Signature};
use super::{Code, Finding, Severity};
use crate::archive::Archive;
use crate::manifest::{self, Manifest};

pub(super) fn check(archive: &mut Archive, manifest: &Manifest, findings: &mut Vec<Finding>) {
    let handler = manifest.handler().unwrap_or("").trim();
    if handler.is_empty() {
        findings.push(Finding::new(
            Code::HandlerNotSet,
            "the manifest names no handler; TorchServe then uses its default_service_handler setting",
        ));
        return;
    }
    if manifest.runtime.as_deref() == Some("LSP") {
        return; // a C++ handler: nothing Python to analyse
    }
    let (module_part, function) = match handler.split_once(':') {
        Some((m, f)) => (m, Some(f)),
        None => (handler, None),
    };
    let module = module_part.strip_suffix(".py").unwrap_or(module_part);
    let module = module.rsplit('/').next().unwrap_or(module);
    let base = module.replace('.', "/");
    let candidates = [format!("{base}.py"), format!("{base}/__init__.py")];
    let Some(file) = candidates
        .iter()
        .find(|c| archive.file(c).is_some())
        .cloned()
    else {
        if !module.is_empty() && manifest::is_builtin_handler(module) {
            return;
        }
        findings.push(
            Finding::new(
                Code::HandlerFileAbsent,
                format!(
                    "handler {handler:?}: {} is not in the archive and {module:?} is not a built-in handler",
                    candidates[0]
                ),
            )
            .entry(candidates[0].clone()),
        );
        return;
    };
    let source = match archive.read(&file) {
        Ok(Some(bytes)) => bytes,
        // An unreadable entry is reported by the container checks.
        Ok(None) | Err(_) => return,
    };
    let probe = match python::probe(&source) {
        Ok(p) => p,
        Err(why) => {
            findings.push(
                Finding::new(
                    Code::PythonUnavailable,
                    format!("handler not analysed: {why}"),
                )
                .entry(file),
            );
            return;
        }
    };
    if let Some(err) = &probe.syntax_error {
        let column = err
            .offset
            .map(|c| format!(", column {c}"))
            .unwrap_or_default();
        let at = err
            .line
            .map(|l| format!(" (line {l}{column})"))
            .unwrap_or_default();
        findings.push(
            Finding::new(Code::HandlerSyntaxError, format!("{}{at}", err.msg))
                .entry(file)
                .line(err.line),
        );
        return;
    }
    Judge {
        probe: &probe,
        file: &file,
        findings,
    }
    .entry_point(function);
}

struct Judge<'a> {
    probe: &'a Probe,
    file: &'a str,
    findings: &'a mut Vec<Finding>,
}

/// Whether a class has a member, looking through bases defined in the same module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Has {
    Yes,
    No,
    /// Possibly inherited from a class defined elsewhere (e.g. BaseHandler).
    Unknown,
}

impl Judge<'_> {
    fn push(&mut self, code: Code, message: String, line: Option<u32>) {
        self.findings
            .push(Finding::new(code, message).entry(self.file).line(line));
    }

    fn entry_point(&mut self, function: Option<&str>) {
        let name = function.unwrap_or("handle");
        match self.probe.bindings.get(name) {
            Some(Binding::Function { function: sig }) => {
                if !sig.accepts_positional(2, 0) {
                    self.push(
                        Code::EntryFunctionArity,
                        format!("entry point {name}{} cannot be called as {name}(data, context)", describe(sig, 0)),
                        Some(sig.line),
                    );
                }
            }
            Some(Binding::Class { class }) => self.push(
                Code::EntryPointUnverified,
                format!("entry point {name} is a class; TorchServe calls {name}(data, context) and uses the result"),
                Some(class.line),
            ),
            Some(Binding::Other { line }) => self.push(
                Code::EntryPointUnverified,
                format!("entry point {name} is bound by an assignment or import; its signature is not checked"),
                *line,
            ),
            None if self.probe.star_import => self.push(
                Code::EntryPointUnverified,
                format!("{name} is not defined here but may come from a `from ... import *`"),
                None,
            ),
            None => self.class_entry_point(function),
        }
    }

    fn class_entry_point(&mut self, function: Option<&str>) {
        let mut classes: Vec<(&String, &ClassFacts)> = self
            .probe
            .bindings
            .iter()
            .filter_map(|(n, b)| match b {
                Binding::Class { class } => Some((n, class)),
                _ => None,
            })
            .collect();
        classes.sort_by_key(|(_, c)| c.line);
        let wanted = function.unwrap_or("handle");
        if classes.len() != 1 {
            let found = if classes.is_empty() {
                "no class".to_string()
            } else {
                let names: Vec<&str> = classes.iter().map(|(n, _)| n.as_str()).collect();
                format!("{} classes ({})", classes.len(), names.join(", "))
            };
            let line = classes.get(1).map(|(_, c)| c.line);
            self.push(
                Code::HandlerClassCount,
                format!(
                    "no module-level function {wanted:?} and {found}: TorchServe needs exactly one class defined in the handler module"
                ),
                line,
            );
            return;
        }
        let (class_name, class) = classes[0];
        for (method, args, call) in [
            ("handle", 2, "handle(data, context)"),
            ("initialize", 1, "initialize(context)"),
        ] {
            match self.has(class, method, 0) {
                Has::No => self.push(
                    Code::HandlerClassMethods,
                    format!("class {class_name} has no {method} method; TorchServe calls instance.{call}"),
                    Some(class.line),
                ),
                Has::Yes => {
                    if let Some(sig) = self.method(class, method, 0)
                        && !sig.accepts_positional(args, 1) {
                            self.push(
                                Code::EntryFunctionArity,
                                format!("{class_name}.{method}{} cannot be called as {call}", describe(sig, 1)),
                                Some(sig.line),
                            );
                        }
                }
                Has::Unknown => {}
            }
        }
        if let Some(init) = self.method(class, "__init__", 0)
            && !init.accepts_positional(0, 1)
        {
            self.push(
                Code::HandlerClassInit,
                format!(
                    "{class_name}.__init__{} needs arguments, but TorchServe calls {class_name}()",
                    describe(init, 1)
                ),
                Some(init.line),
            );
        }
        if let Some(f) = function {
            self.findings.push(
                Finding::new(
                    Code::EntryFunctionFallback,
                    format!("the handler names function {f:?}, which the module does not define; TorchServe falls back to class {class_name}"),
                )
                .severity(Severity::Warning)
                .entry(self.file),
            );
        }
    }

    /// Resolution through same-module bases; depth-limited against cycles.
    fn has(&self, class: &ClassFacts, member: &str, depth: usize) -> Has {
        if class.members.iter().any(|m| m == member) {
            return Has::Yes;
        }
        if depth > 16 {
            return Has::Unknown;
        }
        let mut result = Has::No;
        for base in &class.bases {
            if base == "object" {
                continue;
            }
            match self.local_class(base) {
                Some(parent) => match self.has(parent, member, depth + 1) {
                    Has::Yes => return Has::Yes,
                    Has::Unknown => result = Has::Unknown,
                    Has::No => {}
                },
                None => result = Has::Unknown,
            }
        }
        result
    }

    /// The `def` of `member` in the class or the nearest same-module base that has it.
    fn method<'p>(
        &'p self,
        class: &'p ClassFacts,
        member: &str,
        depth: usize,
    ) -> Option<&'p Signature> {
        if class.members.iter().any(|m| m == member) {
            return class.methods.get(member);
        }
        if depth > 16 {
            return None;
        }
        class
            .bases
            .iter()
            .filter_map(|b| self.local_class(b))
            .find_map(|parent| self.method(parent, member, depth + 1))
    }

    fn local_class(&self, name: &str) -> Option<&ClassFacts> {
        match self.probe.bindings.get(name) {
            Some(Binding::Class { class }) => Some(class),
            _ => None,
        }
    }
}

/// e.g. "(3 positional parameters, 1 with a default)".
fn describe(sig: &Signature, skip: u32) -> String {
    let positional = sig.positional.saturating_sub(skip);
    let mut parts = vec![format!(
        "takes {positional} positional parameter{}",
        if positional == 1 { "" } else { "s" }
    )];
    if sig.defaults > 0 {
        parts.push(format!("{} with a default", sig.defaults));
    }
    if sig.vararg {
        parts.push("*args".to_string());
    }
    if sig.kwonly_required > 0 {
        parts.push(format!("{} required keyword-only", sig.kwonly_required));
    }
    format!(" ({})", parts.join(", "))
}
