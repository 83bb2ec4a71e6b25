#!/usr/bin/env python3
"""Measures the layers a Python model file builds, exactly, by running it.

    python3 measure.py FILE.py [--input N,C,H,W] [--entry NAME]... [--framework auto|torch|keras]
                       [--root DIR] [--timeout SECONDS]

1. Imports FILE as a module (never as __main__), its folder on sys.path as when it is run; a file
   inside a package (folders with __init__.py) is imported under its package name, so that its
   relative imports work.
2. Builds every entry point with its default arguments: each nn.Module (keras.Model) class the
   file defines and each public function of the file that returns one. An entry that needs an
   argument, a function named like a script step (main, test..., train...), and an entry that
   builds the same model as an earlier one are listed with the reason they were not measured.
   A `weights` argument that defaults to a name (Keras applications: "imagenet") is given None,
   and a `pretrained` that defaults to True is given False, so nothing is downloaded.
   Then, for the entries that need arguments or raised, the calls of the file's script code (the
   top level, `if __name__ == '__main__':`, functions named like script steps) that build them
   with literal arguments (net = ShuffleNetV2(net_size=0.5) in test()), as the static reader does.
   --call EXPR (repeatable) builds the model with that expression instead (EfficientNet.from_name('b0')).
3. Records every conv, linear, BatchNorm and pool module (Keras layer) with the position of the
   call that built it: in each file under ROOT (default: FILE's folder) on the stack, the innermost
   frame, 1-based line and column of the call expression. A site whose call constructs the layer
   itself has no "via"; one that built it through something else (torchvision's
   Conv2dNormActivation, a block class of another file) names it in "via".
4. Runs one forward pass under torch.no_grad() with hooks (Keras: reads the functional graph, or
   calls the model once). The input is --input, else a `# sepconv: input 1,3,32,32` comment of the
   file, else 1 x (the first conv's in_channels) x 224 x 224.
5. Prints one JSON object on stdout: the entries and, per site, the instances
   {count, params, macs, input_shape, output_shape}. What the file itself prints goes to stderr.

MACs follow torchinfo, as the extension's default convention: a conv counts
outputs x in_channels/groups x kernel, plus one per output with a bias (a transposed conv: its
parameters x N x output pixels); a linear layer rows x in x out
(plus its bias); BatchNorm batch x its affine parameters; pools none. Params count parameters, not
buffers (Keras: BatchNormalization's moving statistics are left out, as PyTorch's running ones).

Exit status: 0 measured (entries may still have failed: see "entries"), 1 nothing could be
measured (see "error"), 2 bad arguments, 3 the framework is not installed for this interpreter.
"""
import argparse
import ast
import contextlib
import importlib
import importlib.util
import inspect
import json
import linecache
import math
import os
import re
import signal
import sys
import traceback
import types
import weakref

VERSION = 1
SCRIPT_STEP = re.compile(r'^(main|test|tests|train|training|eval|evaluate|val|validate|validation|run|demo|benchmark|bench|export|load|save|download|preprocess|decode|inference|infer|predict|fit|plot|show|print)(_|$)', re.IGNORECASE)
INPUT_COMMENT = re.compile(r'#\s*sepconv:\s*input\s+(\d+(?:\s*[,x]\s*\d+)*)', re.IGNORECASE)
# `# sepconv: call UNet(3, 2)` on a line of its own: a model the file builds that way, measured
# after its entries (the static reader of the extension reads the same comments).
CALL_COMMENT = re.compile(r'^[ \t]*#[ \t]*sepconv:[ \t]*call[ \t]+(\S.*?)[ \t]*$', re.IGNORECASE | re.MULTILINE)
MAX_COMMENT_CALLS = 8


class MeasureTimeout(BaseException):
    """The time limit: a BaseException, so that no `except Exception` of the user's code or of the
    entry loop takes it for an entry's failure and carries on."""


EXPIRED = []


def check_time():
    """Raised again where an `except` (the user's, or one inside torch's C++ code, which turns the
    signal's exception into a RuntimeError) swallowed the time limit."""
    if EXPIRED:
        raise MeasureTimeout(EXPIRED[0])


class MeasureError(Exception):
    """A failure that ends the measurement with a message for the user."""

    def __init__(self, message, status=1, where=None):
        super().__init__(message)
        self.status = status
        self.where = where


# ---------------------------------------------------------------------------------------------
# Source positions


class Positions:
    """Maps a frame to the 1-based (line, column) of the expression it is executing."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self._under = {}
        self._code_positions = {}
        self._aliases = {}

    def alias(self, installed, path):
        """Frames in `installed` (an identical copy of `path`) are reported in `path`."""
        self._aliases[os.path.realpath(installed)] = os.path.realpath(path)
        self._under.clear()

    def under_root(self, filename):
        hit = self._under.get(filename)
        if hit is None:
            real = os.path.realpath(filename) if filename and not filename.startswith('<') else ''
            real = self._aliases.get(real, real)
            hit = bool(real) and (real == self.root or real.startswith(self.root + os.sep))
            self._under[filename] = hit
        return hit

    def relative(self, filename):
        real = os.path.realpath(filename)
        return os.path.relpath(self._aliases.get(real, real), self.root).replace(os.sep, '/')

    def of_frame(self, frame):
        code = frame.f_code
        line = frame.f_lineno
        column = None
        if hasattr(code, 'co_positions'):
            table = self._code_positions.get(code)
            if table is None:
                table = list(code.co_positions())
                self._code_positions[code] = table
            index = frame.f_lasti // 2
            if 0 <= index < len(table):
                start_line, _, start_column, _ = table[index]
                if start_line is not None:
                    line = start_line
                if start_column is not None:
                    column = char_column(code.co_filename, line, start_column)
        if column is None:
            column = first_code_column(code.co_filename, line)
        return {'file': self.relative(code.co_filename), 'line': line, 'column': column + 1}

    def sites(self, frame, module):
        """For each file under the root on the stack, its innermost frame: [(position, via)].

        via is None where that frame's call constructs the layer itself (nn.Conv2d(...), a partial
        of it, a subclass); else the name of what it called (Conv2dNormActivation, a block class of
        another file), through which the layer was built."""
        own_inits = set()
        for cls in type(module).__mro__:
            init = cls.__dict__.get('__init__')
            code = getattr(init, '__code__', None)
            if code is not None:
                own_inits.add(code)
        found = []
        files = set()
        inner = None
        while frame is not None:
            filename = frame.f_code.co_filename
            if self.under_root(filename) and filename not in files:
                files.add(filename)
                via = None
                position = self.of_frame(frame)
                if inner is not None and inner.f_code not in own_inits:
                    via = getattr(inner.f_code, 'co_qualname', inner.f_code.co_name)
                    if via.endswith('.__init__'):
                        via = via[:-len('.__init__')]
                    if self.under_root(inner.f_code.co_filename):
                        # Built by code of the workspace: that file has the layer's own site.
                        position['via_file'] = self.relative(inner.f_code.co_filename)
                found.append((position, via))
            inner = frame
            frame = frame.f_back
        return found


def char_column(filename, line, byte_column):
    """co_positions counts UTF-8 bytes; editors count characters."""
    text = linecache.getline(filename, line)
    if not text:
        return byte_column
    return len(text.encode('utf-8')[:byte_column].decode('utf-8', errors='ignore'))


def first_code_column(filename, line):
    text = linecache.getline(filename, line)
    return len(text) - len(text.lstrip()) if text else 0


# ---------------------------------------------------------------------------------------------
# Loading the file


def parse_shape(text):
    parts = [p for p in re.split(r'[,x\s]+', text.strip()) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f'an input shape is integers separated by commas, like 1,3,32,32; got {text!r}')
    shape = [int(p) for p in parts]
    if any(n < 1 for n in shape):
        raise ValueError(f'every size of an input shape is at least 1; got {text!r}')
    return shape


def comment_calls(source):
    """The expressions of the file's `# sepconv: call` comments, each once, in order (at most 8, each under 300 characters)."""
    calls = []
    for match in CALL_COMMENT.finditer(source):
        text = match.group(1)
        if len(text) < 300 and text not in calls:
            calls.append(text)
    return calls[:MAX_COMMENT_CALLS]


def comment_input(source):
    match = INPUT_COMMENT.search(source)
    return parse_shape(match.group(1)) if match else None


def detect_framework(source):
    torch_import = re.search(r'^\s*(import|from)\s+torch\b', source, re.MULTILINE)
    keras_import = re.search(r'^\s*(import|from)\s+(keras|tensorflow|tf_keras)\b', source, re.MULTILINE)
    if torch_import and not keras_import:
        return 'torch'
    if keras_import and not torch_import:
        return 'keras'
    if torch_import and keras_import:
        return 'torch' if torch_import.start() < keras_import.start() else 'keras'
    # A file of a package (relative imports only) is read as PyTorch unless it names Keras.
    return 'keras' if re.search(r'\bkeras\b', source) else 'torch'


def package_of(path):
    """(sys.path entry, dotted module name) for a file, following __init__.py folders upwards."""
    folder, stem = os.path.split(os.path.realpath(path))
    name = os.path.splitext(stem)[0]
    parts = [name]
    while os.path.isfile(os.path.join(folder, '__init__.py')):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    return folder, '.'.join(parts)


def installed_package_for(path, source):
    """A file with relative imports but no __init__.py beside it, in a folder laid out like an
    installed package (torchvision/models/x.py): that package, so its relative imports resolve."""
    if not re.search(r'^\s*from\s+\.', source, re.MULTILINE):
        return None
    folders = os.path.dirname(os.path.realpath(path)).split(os.sep)
    for length in range(min(len(folders), 4), 0, -1):
        candidate = '.'.join(folders[-length:])
        if not all(part.isidentifier() for part in folders[-length:]):
            continue
        try:
            spec = importlib.util.find_spec(candidate)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations is not None:
            return candidate
    return None


def installed_copy(name, path):
    """The installed module `name` when its file has the same bytes as `path`, imported."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    with open(spec.origin, 'rb') as a, open(path, 'rb') as b:
        if a.read() != b.read():
            return None
    return importlib.import_module(name)


def import_file(path, source, positions):
    folder = os.path.dirname(os.path.realpath(path))
    entry, dotted = package_of(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    if '.' in dotted:
        if entry not in sys.path:
            sys.path.insert(0, entry)
        package = dotted.rsplit('.', 1)[0]
        name = dotted
    else:
        package = installed_package_for(path, source)
        stem = re.sub(r'\W', '_', os.path.splitext(os.path.basename(path))[0])
        name = f'{package}.{stem}' if package else stem
        if package:
            installed = installed_copy(name, path)
            if installed is not None:
                # Running the file a second time would redo what its import did (torchvision's
                # register_model refuses a second registration): measure the installed module.
                positions.alias(installed.__file__, path)
                return installed
            # The installed module keeps its name; this file is loaded beside it.
            name = f'{package}._measured_{stem}'
    if package:
        importlib.import_module(package)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise MeasureError(f'cannot load {path} as a Python module')
    module = importlib.util.module_from_spec(spec)
    if package:
        module.__package__ = package
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except MeasureTimeout:
        raise
    except BaseException as error:
        check_time()
        raise MeasureError(f'importing the file raised {describe(error)}', where=last_frame(error, positions)) from error
    return module


def describe(error):
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0]}' if text else type(error).__name__


def last_frame(error, positions):
    """The innermost traceback frame in a file under the root."""
    hit = None
    for frame, line in traceback.walk_tb(error.__traceback__):
        if positions.under_root(frame.f_code.co_filename):
            hit = {'file': positions.relative(frame.f_code.co_filename), 'line': line}
    return hit


# ---------------------------------------------------------------------------------------------
# Entry points


def defined_here(module, obj):
    return getattr(obj, '__module__', None) == module.__name__


def call_arguments(function, is_class):
    """Keyword overrides so that nothing is downloaded, or a reason the entry cannot be built."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as error:
        return None, f'its signature cannot be read ({error})'
    required = []
    overrides = {}
    for index, parameter in enumerate(signature.parameters.values()):
        if is_class and index == 0 and parameter.name == 'self':
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        elif parameter.name == 'weights' and isinstance(parameter.default, str):
            overrides['weights'] = None
        elif parameter.name == 'pretrained' and parameter.default is True:
            overrides['pretrained'] = False
    if required:
        return None, f'needs arguments: {", ".join(required)}'
    return overrides, None


def compile_call(expression, module):
    try:
        code = compile(expression, '<--call>', 'eval')
    except SyntaxError as error:
        raise MeasureError(f'--call {expression!r} is not a Python expression: {error.msg}', status=2)
    return lambda: eval(code, vars(module))


def entry_points(module, base, only):
    """[(name, kind, callable, overrides, skip reason)] in source order."""
    found = []
    for name, obj in vars(module).items():
        if not defined_here(module, obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, base):
            if inspect.isabstract(obj):
                continue
            overrides, reason = call_arguments(obj.__init__ if obj.__init__ is not base.__init__ else obj, True)
            found.append((name, 'class', obj, overrides, reason))
        elif inspect.isfunction(obj):
            if name.startswith('_'):
                continue
            if SCRIPT_STEP.match(name):
                found.append((name, 'function', obj, None, 'a script step by its name, not a model builder'))
                continue
            overrides, reason = call_arguments(obj, False)
            found.append((name, 'function', obj, overrides, reason))

    def line_of(item):
        try:
            return inspect.getsourcelines(item[2])[1]
        except (OSError, TypeError):
            return 0

    found.sort(key=line_of)
    if only:
        missing = [n for n in only if n not in {f[0] for f in found}]
        if missing:
            raise MeasureError(f'no class or function named {", ".join(missing)} in the file', status=2)
        found = [f for f in found if f[0] in only]
    return found


def is_literal(node):
    """Numbers, strings, True/False/None, +/- a number, tuples and lists of them: the literals the
    static reader accepts too (no dict, set, bytes or f-string)."""
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, (bool, int, float, str))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(is_literal(item) for item in node.elts)
    return False


def downloads(keyword):
    value = keyword.value
    if keyword.arg == 'pretrained':
        return not (isinstance(value, ast.Constant) and value.value in (False, None))
    if keyword.arg in ('weights', 'weights_path'):
        return not (isinstance(value, ast.Constant) and value.value is None)
    return False


def construction_calls(source, needs, classes):
    """The calls of the file's script code (the top level, `if __name__ == '__main__':`, functions
    named like script steps) that build one of `needs` (Net(10): an entry that needs arguments or
    raised with its defaults) or call a class method of one of `classes` (Net.from_name('b0')), with
    literal arguments only: their source text, each once, in source order. The static reader of
    the extension builds the same."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = []

    def visit(node, script):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            top = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node in tree.body
            if not (top and SCRIPT_STEP.match(node.name)):
                return
            script = True
        if script and isinstance(node, ast.Call):
            fn = node.func
            wanted = (isinstance(fn, ast.Name) and fn.id in needs) or (
                isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id in classes)
            if wanted and all(not isinstance(a, ast.Starred) and is_literal(a) for a in node.args) and all(
                    k.arg is not None and is_literal(k.value) and not downloads(k) for k in node.keywords):
                text = ast.get_source_segment(source, node)
                if text and text not in calls:
                    calls.append(text)
        for child in ast.iter_child_nodes(node):
            visit(child, script)

    visit(tree, True)
    return calls


# ---------------------------------------------------------------------------------------------
# Figures


def product(values):
    out = 1
    for v in values:
        out *= int(v)
    return out


def group_instances(records):
    """[(params, macs, input_shape, output_shape)] -> [{count, ...}] in first-seen order."""
    groups = {}
    for params, macs, in_shape, out_shape in records:
        key = json.dumps([params, macs, in_shape, out_shape])
        if key in groups:
            groups[key]['count'] += 1
        else:
            groups[key] = {'count': 1, 'params': params, 'macs': macs, 'input_shape': in_shape, 'output_shape': out_shape}
    return list(groups.values())


def site_object(key, records):
    position, layer, cls, via = key
    instances = group_instances(records)
    site = {'file': position['file'], 'line': position['line'], 'column': position['column'], 'layer': layer, 'family': family_of(layer)}
    if cls != layer:
        site['class'] = cls
    if via is not None:
        site['via'] = via
        if 'via_file' in position:
            site['via_file'] = position['via_file']
    if len(instances) == 1:
        only = instances[0]
        site.update({'params': only['params'], 'macs': only['macs'], 'input_shape': only['input_shape'], 'output_shape': only['output_shape']})
    site['instances'] = instances
    return site


def family_of(layer):
    lower = layer.lower()
    if 'conv' in lower:
        return 'conv'
    if lower in ('linear', 'dense', 'einsumdense'):
        return 'linear'
    if 'batchnorm' in lower or 'batchnormalization' in lower:
        return 'batchnorm'
    return 'pool'


# ---------------------------------------------------------------------------------------------
# PyTorch


class TorchMeasure:
    def __init__(self, positions, torch):
        self.torch = torch
        self.nn = torch.nn
        self.positions = positions
        nn = torch.nn
        self.tracked = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.modules.pooling._MaxPoolNd,
                        nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
                        nn.modules.pooling._LPPoolNd)
        self.sites = weakref.WeakKeyDictionary()
        self.calls = weakref.WeakKeyDictionary()
        self.base = nn.Module

    def install(self):
        original = self.nn.Module.__init__
        measure = self

        def init(module, *args, **kwargs):
            original(module, *args, **kwargs)
            if isinstance(module, measure.tracked) and module not in measure.sites:
                sites = measure.positions.sites(sys._getframe(1), module)
                if sites:
                    measure.sites[module] = sites

        self.nn.Module.__init__ = init

    def total_params(self, model):
        return sum(p.numel() for p in model.parameters())

    def has_layers(self, model):
        return any(isinstance(m, self.tracked) for m in self.nn.Module.modules(model))

    def torch_name(self, module):
        for cls in type(module).__mro__:
            if cls.__module__.startswith('torch.nn.') and not cls.__name__.startswith('_'):
                return cls.__name__
        return type(module).__name__

    def build(self, function, overrides):
        model = function(**overrides)
        if not isinstance(model, self.nn.Module):
            return None, f'returned {type(model).__name__}, not an nn.Module'
        return model, None

    def input_shape(self, model, given):
        if given:
            return given, 'given'
        for module in self.nn.Module.modules(model):
            if isinstance(module, self.nn.modules.conv._ConvNd):
                spatial = len(module.kernel_size)
                return [1, module.in_channels] + [224] * spatial, f'first conv ({module.in_channels} channels) at 224'
            if isinstance(module, self.nn.Linear):
                return [1, module.in_features], f'first linear layer ({module.in_features} features)'
        return None, None

    def cost(self, module, inputs, output):
        nn = self.nn
        params = sum(p.numel() for p in module.parameters(recurse=False))
        x = inputs[0] if inputs else None
        in_shape = list(x.shape) if hasattr(x, 'shape') else None
        out = output[0] if isinstance(output, (tuple, list)) else output
        out_shape = list(out.shape) if hasattr(out, 'shape') else None
        macs = None
        if out_shape is not None and in_shape is not None:
            if isinstance(module, nn.modules.conv._ConvNd):
                bias = module.bias is not None
                kernel = product(module.kernel_size)
                if module.transposed:
                    # torchinfo counts a transposed conv as its parameters x N x output pixels, as
                    # the extension's cost model does (not weights x input pixels, fvcore's count).
                    macs = module.weight.numel() * (product(out_shape) // out_shape[1]) + (product(out_shape) if bias else 0)
                else:
                    macs = product(out_shape) * (module.in_channels // module.groups) * kernel + (product(out_shape) if bias else 0)
            elif isinstance(module, nn.Linear):
                rows = product(out_shape) // module.out_features
                macs = rows * module.in_features * module.out_features + (product(out_shape) if module.bias is not None else 0)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                macs = in_shape[0] * params
            else:
                macs = 0
        return params, macs, in_shape, out_shape

    def measure(self, model, shape):
        """{site key: [records]} for one model: a record per forward call of each tracked module."""
        torch = self.torch
        mine = [m for m in self.nn.Module.modules(model) if m in self.sites]
        for m in mine:
            self.calls[m] = []

        def hook(module, inputs, output):
            if module in self.calls:
                self.calls[module].append(self.cost(module, inputs, output))

        error = None
        if shape is not None:
            handle = torch.nn.modules.module.register_module_forward_hook(hook)
            # Inference mode without calling the model's own eval() or train(): a model may define
            # them for something else (Wav2Letter's eval(self, sample) decodes a sample).
            for module in self.nn.Module.modules(model):
                module.training = False
            try:
                with torch.no_grad():
                    model(torch.zeros(shape))
            except Exception as failure:  # the user's forward: anything can be raised
                error = failure
            finally:
                handle.remove()
        per_site = {}
        self.last_macs = sum(r[1] or 0 for m in mine for r in self.calls.get(m) or [])
        for m in mine:
            records = self.calls.get(m) or [(sum(p.numel() for p in m.parameters(recurse=False)), None, None, None)]
            for position, via in self.sites[m]:
                per_site.setdefault(site_key(position, self.torch_name(m), type(m).__name__, via), []).extend(records)
        return per_site, error


def site_key(position, layer, cls, via):
    return (json.dumps(position, sort_keys=True), layer, cls, via)


# ---------------------------------------------------------------------------------------------
# Keras


KERAS_FAMILIES = ('Conv1D', 'Conv2D', 'Conv3D', 'DepthwiseConv1D', 'DepthwiseConv2D', 'SeparableConv1D', 'SeparableConv2D',
                  'Conv1DTranspose', 'Conv2DTranspose', 'Conv3DTranspose', 'Dense', 'BatchNormalization',
                  'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D',
                  'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalAveragePooling3D',
                  'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'GlobalMaxPooling3D')


class KerasMeasure:
    def __init__(self, positions, keras):
        self.keras = keras
        self.positions = positions
        self.sites = weakref.WeakKeyDictionary()
        self.base = keras.Model
        self.tracked = tuple(getattr(keras.layers, name) for name in KERAS_FAMILIES if hasattr(keras.layers, name))

    def install(self):
        layer_class = self.keras.layers.Layer
        original = layer_class.__init__
        measure = self

        def init(layer, *args, **kwargs):
            original(layer, *args, **kwargs)
            if isinstance(layer, measure.tracked) and layer not in measure.sites:
                sites = measure.positions.sites(sys._getframe(1), layer)
                if sites:
                    measure.sites[layer] = sites

        layer_class.__init__ = init

    def total_params(self, model):
        return self.params(model)

    def has_layers(self, model):
        return any(isinstance(layer, self.tracked) for layer in self.layers_of(model))

    def keras_name(self, layer):
        for cls in type(layer).__mro__:
            if cls.__name__ in KERAS_FAMILIES:
                return cls.__name__
        return type(layer).__name__

    def build(self, function, overrides):
        model = function(**overrides)
        if not isinstance(model, self.keras.Model):
            return None, f'returned {type(model).__name__}, not a keras.Model'
        return model, None

    def input_shape(self, model, given):
        if given:
            return given, 'given'
        inputs = getattr(model, 'inputs', None)
        if inputs:
            declared = list(inputs[0].shape)
            if all(d is not None for d in declared[1:]):
                return [1] + [int(d) for d in declared[1:]], 'the model\'s Input'
            return [1] + [224 if d is None else int(d) for d in declared[1:]], 'the model\'s Input, 224 for its free sizes'
        return None, None

    def params(self, layer):
        total = 0
        for weight in layer.weights:
            path = getattr(weight, 'path', None) or getattr(weight, 'name', '')
            if 'moving_mean' in path or 'moving_variance' in path:
                continue
            total += product(weight.shape)
        return total

    def cost(self, layer, in_shape, out_shape):
        name = self.keras_name(layer)
        params = self.params(layer)
        if in_shape is None or out_shape is None:
            return params, None, in_shape, out_shape
        bias = bool(getattr(layer, 'use_bias', False))
        outputs = product(out_shape)
        if name.startswith('DepthwiseConv'):
            macs = outputs * product(layer.kernel_size) + (outputs if bias else 0)
        elif name.startswith('SeparableConv'):
            spatial = product(out_shape[1:-1]) * out_shape[0]
            middle = in_shape[-1] * layer.depth_multiplier
            macs = spatial * middle * product(layer.kernel_size) + spatial * middle * out_shape[-1] + (outputs if bias else 0)
        elif name.endswith('Transpose'):
            # torchinfo's count, as for PyTorch's: the kernel's weights x N x output pixels.
            macs = product(tuple(layer.kernel.shape)) * product(out_shape[:-1]) + (outputs if bias else 0)
        elif name.startswith('Conv'):
            macs = outputs * (in_shape[-1] // getattr(layer, 'groups', 1)) * product(layer.kernel_size) + (outputs if bias else 0)
        elif name == 'Dense':
            rows = outputs // out_shape[-1]
            macs = rows * in_shape[-1] * out_shape[-1] + (outputs if bias else 0)
        elif name == 'BatchNormalization':
            macs = in_shape[0] * params
        else:
            macs = 0
        return params, macs, in_shape, out_shape

    def layers_of(self, model):
        seen = []
        stack = [model]
        while stack:
            layer = stack.pop(0)
            for child in getattr(layer, 'layers', []) or []:
                if child is not layer and child not in seen:
                    seen.append(child)
                    stack.append(child)
        return seen

    def measure(self, model, shape):
        def concrete(tensor_shape):
            return [1 if d is None else int(d) for d in tensor_shape]

        error = None
        records = {}
        self.last_macs = 0
        layers = [layer for layer in self.layers_of(model) if layer in self.sites]
        calls = {layer: [] for layer in layers}
        inputs = getattr(model, 'inputs', None)
        declared = [1] + [d for d in inputs[0].shape[1:]] if inputs else None
        if inputs and declared == shape:
            # The graph as built has the shapes: read them from its nodes.
            for layer in layers:
                for node in getattr(layer, '_inbound_nodes', []) or []:
                    ins = getattr(node, 'input_tensors', None) or []
                    outs = getattr(node, 'output_tensors', None) or getattr(node, 'outputs', None) or []
                    if ins and outs:
                        calls[layer].append((concrete(ins[0].shape), concrete(outs[0].shape)))
        elif shape is not None:
            # Another size (or a subclassed model): one call on zeros, each layer's call recorded.
            layer_class = self.keras.layers.Layer
            original = layer_class.__call__

            def call(layer, *args, **kwargs):
                out = original(layer, *args, **kwargs)
                if layer in calls and args and hasattr(args[0], 'shape') and hasattr(out, 'shape'):
                    calls[layer].append((concrete(args[0].shape), concrete(out.shape)))
                return out

            layer_class.__call__ = call
            try:
                model(self.keras.ops.zeros(shape))
            except Exception as failure:
                error = failure
            finally:
                layer_class.__call__ = original
        for layer in layers:
            rows = [self.cost(layer, in_shape, out_shape) for in_shape, out_shape in calls[layer]]
            if not rows:
                rows = [(self.params(layer), None, None, None)]
            self.last_macs += sum(r[1] or 0 for r in rows)
            for position, via in self.sites[layer]:
                records.setdefault(site_key(position, self.keras_name(layer), type(layer).__name__, via), []).extend(rows)
        return records, error


# ---------------------------------------------------------------------------------------------


def load_framework(name):
    if name == 'torch':
        try:
            import torch  # noqa: F401
        except ImportError as error:
            raise MeasureError(f'torch is not installed for {sys.executable} ({error}); install it (pip install torch) or choose another interpreter', status=3)
        return torch
    if 'KERAS_BACKEND' not in os.environ:
        for backend in ('jax', 'tensorflow', 'torch'):
            if importlib.util.find_spec(backend) is not None:
                os.environ['KERAS_BACKEND'] = backend
                break
    try:
        import keras  # noqa: F401
    except ImportError as error:
        raise MeasureError(f'keras is not installed for {sys.executable} ({error}); install Keras 3 and a backend (pip install keras jax) or choose another interpreter', status=3)
    if int(keras.__version__.split('.')[0]) < 3:
        raise MeasureError(f'Keras {keras.__version__} is installed for {sys.executable}; measuring needs Keras 3', status=3)
    return keras


def versions(framework, lib):
    out = {'python': sys.version.split()[0], framework: lib.__version__}
    if framework == 'keras':
        out['backend'] = lib.backend.backend()
    return out


def run(args, stdout):
    path = os.path.realpath(args.file)
    try:
        with open(path, encoding='utf-8') as handle:
            source = handle.read()
    except OSError as error:
        raise MeasureError(f'cannot read {args.file}: {error.strerror}', status=2)
    try:
        given = parse_shape(args.input) if args.input else comment_input(source)
    except ValueError as error:
        raise MeasureError(str(error), status=2)
    input_source = 'option' if args.input else 'comment' if given else None
    framework = args.framework if args.framework != 'auto' else detect_framework(source)
    lib = load_framework(framework)
    positions = Positions(args.root or os.path.dirname(path))
    measure = TorchMeasure(positions, lib) if framework == 'torch' else KerasMeasure(positions, lib)
    measure.install()
    result = {'version': VERSION, 'file': positions.relative(path), 'framework': framework, **versions(framework, lib),
              'convention': 'torchinfo', 'layout': 'NCHW' if framework == 'torch' else 'NHWC'}
    module = import_file(path, source, positions)
    entries = []
    merged = {}
    seen_models = []
    if args.call:
        # Expressions the user wrote (a setting or the command line), evaluated in the module.
        chosen = [(expression, 'expression', compile_call(expression, module), {}, None) for expression in args.call]
    else:
        chosen = entry_points(module, measure.base, args.entry)
    def measure_entry(name, kind, function, overrides, reason):
        check_time()
        entry = {'name': name, 'kind': kind}
        entries.append(entry)
        if reason:
            entry.update(status='skipped', reason=reason)
            return
        if overrides:
            entry['arguments'] = {k: v for k, v in overrides.items()}
        try:
            model, why = measure.build(function, overrides)
        except Exception as error:
            check_time()
            entry.update(status='failed', reason=f'building it raised {describe(error)}', where=last_frame(error, positions))
            return
        if model is None:
            entry.update(status='skipped', reason=why)
            return
        if not measure.has_layers(model):
            entry.update(status='skipped', reason='builds no conv, linear, BatchNorm or pool layer')
            return
        shape, shape_source = measure.input_shape(model, given)
        per_site, error = measure.measure(model, shape)
        check_time()
        entry['input_shape'] = shape
        entry['input_source'] = input_source if shape_source == 'given' else shape_source
        if error is not None:
            entry.update(status='partial', reason=f'the forward pass raised {describe(error)}; the shapes of layers it did not reach are unknown', where=last_frame(error, positions))
        elif shape is None:
            entry.update(status='partial', reason='no input shape: give --input or a "# sepconv: input N,C,H,W" comment')
        else:
            entry['status'] = 'measured'
        fingerprint = json.dumps(sorted((k[0], k[1], json.dumps(v)) for k, v in per_site.items()))
        same = next((other for other, print_ in seen_models if print_ == fingerprint), None)
        if same is not None:
            entry.update(status='same model', reason=f'builds the same model as {same}')
            return
        seen_models.append((name, fingerprint))
        entry['sites'] = len(per_site)
        entry['params'] = measure.total_params(model)
        # Every tracked layer once per call: the model's MACs over what the forward pass reached.
        entry['macs'] = measure.last_macs
        for key, records in per_site.items():
            merged.setdefault(key, []).extend(records)

    for item in chosen:
        measure_entry(*item)
    if not args.call and not args.entry:
        # The models that the file's script steps build with arguments (net = Net(10) in test()),
        # for the entries that need arguments or raised with their defaults.
        needs = {e['name'] for e in entries if e.get('status') == 'failed' or e.get('reason', '').startswith('needs arguments')}
        classes = {name for name, kind, *_ in chosen if kind == 'class'}
        for expression in construction_calls(source, needs, classes):
            measure_entry(expression, 'call', compile_call(expression, module), {}, None)
        done = {e['name'] for e in entries}
        for expression in comment_calls(source):
            if expression in done:
                continue
            try:
                function = compile_call(expression, module)
            except Exception as error:
                entries.append({'name': expression, 'kind': 'call', 'status': 'failed', 'reason': f'the # sepconv: call comment is not one call: {describe(error)}'})
                continue
            measure_entry(expression, 'call', function, {}, None)
    sites = [site_object((json.loads(key[0]), key[1], key[2], key[3]), records) for key, records in merged.items()]
    sites.sort(key=lambda s: (s['file'], s['line'], s['column'], s['layer']))
    result['entries'] = entries
    result['sites'] = sites
    if not any(e.get('status') in ('measured', 'partial') for e in entries):
        tried = '; '.join(f"{e['name']}: {e.get('reason', e.get('status'))}" for e in entries) or 'the file defines no model class or builder'
        result['error'] = {'message': f'no model could be built ({tried})'}
        stdout.write(json.dumps(result) + '\n')
        return 1
    stdout.write(json.dumps(result) + '\n')
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description='Measure the layers a Python model file builds.')
    parser.add_argument('file')
    parser.add_argument('--input', help='input shape, N,C,H,W (Keras: N,H,W,C)')
    parser.add_argument('--entry', action='append', help='only this class or function (repeatable)')
    parser.add_argument('--call', action='append', help='build the model with this expression, evaluated in the module (repeatable)')
    parser.add_argument('--framework', choices=('auto', 'torch', 'keras'), default='auto')
    parser.add_argument('--root', help='positions are taken in files under this folder (default: the file\'s)')
    parser.add_argument('--timeout', type=float, default=0, help='seconds before giving up (0: no limit)')
    args = parser.parse_args(argv)
    stdout = sys.stdout
    # Whatever the file prints goes to stderr, so stdout carries the JSON alone.
    sys.stdout = sys.stderr

    if args.timeout > 0 and hasattr(signal, 'SIGALRM'):
        def expire(signum, frame):
            EXPIRED.append(f'measuring took longer than {args.timeout:g} s')
            raise MeasureTimeout(EXPIRED[0])
        signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
    try:
        try:
            return run(args, stdout)
        except Exception:
            check_time()
            raise
    except MeasureError as error:
        stdout.write(json.dumps({'version': VERSION, 'error': {'message': str(error), **({'where': error.where} if error.where else {})}}) + '\n')
        return error.status
    except MeasureTimeout as error:
        stdout.write(json.dumps({'version': VERSION, 'error': {'message': str(error)}}) + '\n')
        return 1
    except Exception as error:  # the model's own code, called from places the steps above do not guard
        stdout.write(json.dumps({'version': VERSION, 'error': {'message': f'measuring failed: {describe(error)}'}}) + '\n')
        return 1
    finally:
        stdout.flush()


if __name__ == '__main__':
    sys.exit(main())
