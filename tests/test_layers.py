"""The package's import graph reads downward (README, "Architecture"): a module imports
only modules of lower layers, or of its own subpackage. Walks every import, function-
level ones included."""
import ast
from pathlib import Path

import rd_unet

ROOT = Path(rd_unet.__file__).resolve().parent

# the layers, bottom up; modules on one floor stand side by side and never import each other
LAYERS = [
    ("rd_unet", "rd_unet.config", "rd_unet.files", "rd_unet.maps"),
    ("rd_unet.sim", "rd_unet.plots"),
    ("rd_unet.data",),
    ("rd_unet.model",),
    ("rd_unet.train", "rd_unet.eval", "rd_unet.clean"),
    ("rd_unet.demo", "rd_unet.recorded"),
    ("rd_unet.cli",),
    ("rd_unet.__main__",),
]


def unit(module: str) -> tuple[int, str]:
    """(layer, unit) of a module: its subpackage or top-level module."""
    parts = module.split(".")
    for depth in (2, 1):
        name = ".".join(parts[:depth])
        for layer, names in enumerate(LAYERS):
            if name in names:
                return layer, name
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        yield name.removesuffix(".__init__"), path


def imports(path: Path, name: str):
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("rd_unet"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("rd_unet"):
                continue
            for a in node.names:       # "from rd_unet.eval import metrics" imports a module
                sub = f"{base}.{a.name}"
                yield sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).is_file() else base


def test_every_import_points_down_the_layers():
    bad = []
    for name, path in modules():
        if name == "rd_unet":          # the facade: re-exports (lazily) for users
            continue
        layer, own = unit(name)
        for target in imports(path, name):
            t_layer, t_unit = unit(target)
            if target == "rd_unet" or t_unit == own:
                continue
            if t_layer >= layer:
                bad.append(f"{name} (layer {layer}) imports {target} (layer {t_layer})")
    assert not bad, "imports that do not point down:\n" + "\n".join(bad)


def test_the_walker_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from rd_unet.eval import metrics\n    import rd_unet.clean\n")
    assert sorted(imports(f, "rd_unet.x")) == ["rd_unet.clean", "rd_unet.eval.metrics"]
