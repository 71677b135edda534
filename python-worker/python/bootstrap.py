"""Makes the Python sources embedded in the ts-worker binary importable.

Run once at worker start, before anything else. The finder is appended to the END of
sys.meta_path, so the regular path finder is asked first: an installed `ts` package (real
TorchServe) therefore always wins over the bundled compatibility copy. The bundled package's
__path__ is empty, so its submodules can only come from here, never mixed with a real install.
"""
import importlib.abc
import importlib.util
import sys


class EmbeddedSources(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    def __init__(self, sources):
        # fullname -> (is_package, source text)
        self._sources = sources

    def find_spec(self, fullname, path=None, target=None):
        entry = self._sources.get(fullname)
        if entry is None:
            return None
        return importlib.util.spec_from_loader(
            fullname, self, origin="<ts-worker>/" + fullname, is_package=entry[0]
        )

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)

    def is_package(self, fullname):
        return self._sources[fullname][0]

    # lets linecache (and so tracebacks) show the embedded source lines
    def get_source(self, fullname):
        return self._sources[fullname][1]

    def get_code(self, fullname):
        return compile(self.get_source(fullname), "<ts-worker>/" + fullname.replace(".", "/") + ".py", "exec")


def install(sources):
    finder = EmbeddedSources(sources)
    sys.meta_path.append(finder)
    return finder
