//! The stable codes of `mar check`. A code never changes meaning; new checks get new codes.

use serde::Serialize;

use super::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    ManifestMissing,
    ManifestMalformed,
    ModelEntryMissing,
    BadModelName,
    BadModelVersion,
    BadRuntime,
    ArchiverFieldsMissing,
    HandlerNotSet,
    HandlerFileAbsent,
    HandlerSyntaxError,
    EntryFunctionArity,
    HandlerClassCount,
    HandlerClassMethods,
    HandlerClassInit,
    EntryFunctionFallback,
    EntryPointUnverified,
    RequirementsFileMissing,
    ConfigFileMissing,
    ConfigInvalid,
    ConfigValueIgnored,
    ConfigUnknownKey,
    ModelFileMissing,
    UnsafePath,
    LinkEscapes,
    ZipBomb,
    ArchiveUnreadable,
    EntryCorrupt,
    DuplicateEntry,
    PythonUnavailable,
}

impl Code {
    pub const ALL: [Code; 29] = [
        Code::ManifestMissing,
        Code::ManifestMalformed,
        Code::ModelEntryMissing,
        Code::BadModelName,
        Code::BadModelVersion,
        Code::BadRuntime,
        Code::ArchiverFieldsMissing,
        Code::HandlerNotSet,
        Code::HandlerFileAbsent,
        Code::HandlerSyntaxError,
        Code::EntryFunctionArity,
        Code::HandlerClassCount,
        Code::HandlerClassMethods,
        Code::HandlerClassInit,
        Code::EntryFunctionFallback,
        Code::EntryPointUnverified,
        Code::RequirementsFileMissing,
        Code::ConfigFileMissing,
        Code::ConfigInvalid,
        Code::ConfigValueIgnored,
        Code::ConfigUnknownKey,
        Code::ModelFileMissing,
        Code::UnsafePath,
        Code::LinkEscapes,
        Code::ZipBomb,
        Code::ArchiveUnreadable,
        Code::EntryCorrupt,
        Code::DuplicateEntry,
        Code::PythonUnavailable,
    ];

    /// (code, usual severity, one-line fix)
    fn info(self) -> (&'static str, Severity, &'static str) {
        use Severity::*;
        match self {
            Code::ManifestMissing => (
                "MAR001",
                Error,
                "create the archive with `mar create` (or torch-model-archiver), which writes MAR-INF/MANIFEST.json",
            ),
            Code::ManifestMalformed => (
                "MAR002",
                Error,
                "make MAR-INF/MANIFEST.json a JSON object with string fields, e.g. by re-creating the archive",
            ),
            Code::ModelEntryMissing => (
                "MAR003",
                Error,
                "add a \"model\" object with \"modelName\" to the manifest (mar create --model-name NAME)",
            ),
            Code::BadModelName => (
                "MAR004",
                Error,
                "use a model name matching ^[A-Za-z0-9][A-Za-z0-9_\\-.]*$ (--model-name)",
            ),
            Code::BadModelVersion => (
                "MAR005",
                Error,
                "set a version such as 1.0 with -v/--version, without spaces or slashes",
            ),
            Code::BadRuntime => (
                "MAR006",
                Error,
                "set runtime to python, python3 or LSP (--runtime)",
            ),
            Code::ArchiverFieldsMissing => (
                "MAR007",
                Warning,
                "re-create the archive with `mar create`, which writes createdOn and archiverVersion",
            ),
            Code::HandlerNotSet => (
                "MAR010",
                Warning,
                "name the handler with --handler (my_handler.py, my_handler:fn or a built-in such as image_classifier)",
            ),
            Code::HandlerFileAbsent => (
                "MAR011",
                Error,
                "put the handler's .py file at the archive root (--handler path/to/my_handler.py) or name a built-in handler",
            ),
            Code::HandlerSyntaxError => (
                "MAR012",
                Error,
                "fix the syntax error (python3 -m py_compile FILE shows it) and re-create the archive",
            ),
            Code::EntryFunctionArity => (
                "MAR013",
                Error,
                "define the entry point as `def NAME(data, context):` (two positional parameters)",
            ),
            Code::HandlerClassCount => (
                "MAR014",
                Error,
                "define exactly one class in the handler module (move helpers to another module) or name a function: --handler module:function",
            ),
            Code::HandlerClassMethods => (
                "MAR015",
                Error,
                "give the handler class `initialize(self, context)` and `handle(self, data, context)`, or subclass BaseHandler",
            ),
            Code::HandlerClassInit => (
                "MAR016",
                Error,
                "TorchServe calls the handler class with no arguments: give every __init__ parameter a default",
            ),
            Code::EntryFunctionFallback => (
                "MAR017",
                Warning,
                "name a function that exists after the colon, or drop `:NAME` to use the class",
            ),
            Code::EntryPointUnverified => (
                "MAR018",
                Info,
                "nothing to do unless loading fails: this entry point can only be verified by importing it",
            ),
            Code::RequirementsFileMissing => (
                "MAR020",
                Error,
                "add the requirements file to the archive (-r/--requirements-file) or drop requirementsFile from the manifest",
            ),
            Code::ConfigFileMissing => (
                "MAR021",
                Error,
                "add the config file to the archive (-c/--config-file) or drop configFile from the manifest",
            ),
            Code::ConfigInvalid => (
                "MAR022",
                Error,
                "make the model config a non-empty YAML mapping (key: value lines); TorchServe fails to register the model otherwise",
            ),
            Code::ConfigValueIgnored => (
                "MAR023",
                Warning,
                "give the key a value of the type TorchServe expects (see the model-config.yaml reference)",
            ),
            Code::ConfigUnknownKey => (
                "MAR024",
                Info,
                "check the spelling if this key is meant for TorchServe; handler-only keys are fine",
            ),
            Code::ModelFileMissing => (
                "MAR025",
                Warning,
                "add the file named in the manifest (--serialized-file / --model-file) or drop the field",
            ),
            Code::UnsafePath => (
                "MAR030",
                Error,
                "remove entries with `..` or absolute names; re-create the archive from a clean folder",
            ),
            Code::LinkEscapes => (
                "MAR031",
                Error,
                "replace links that point outside the model folder with the files themselves",
            ),
            Code::ZipBomb => (
                "MAR032",
                Error,
                "the archive unpacks to more than the limits allow or lies about its sizes; re-create it with `mar create`",
            ),
            Code::ArchiveUnreadable => (
                "MAR033",
                Error,
                "the file is truncated or not an archive: copy or download it again, or re-create it",
            ),
            Code::EntryCorrupt => (
                "MAR034",
                Error,
                "an entry's data is damaged: copy or download the archive again, or re-create it",
            ),
            Code::DuplicateEntry => (
                "MAR035",
                Warning,
                "re-create the archive so each name appears once; the last copy wins when unpacked",
            ),
            Code::PythonUnavailable => (
                "MAR036",
                Warning,
                "install python3 or point MAR_PYTHON at an interpreter so the handler can be analysed",
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.info().0
    }

    pub fn default_severity(self) -> Severity {
        self.info().1
    }

    pub fn fix(self) -> &'static str {
        self.info().2
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../../README.md");
        for code in Code::ALL {
            let row = format!("| {} | {}", code.as_str(), code.default_severity());
            assert!(
                readme.contains(&row),
                "README.md lacks a row starting {row:?}"
            );
        }
    }

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(s.len() == 6 && s.starts_with("MAR"), "{s}");
            assert!(seen.insert(s), "duplicate {s}");
            assert!(!code.fix().is_empty());
        }
    }
}
