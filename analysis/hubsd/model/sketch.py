"""Stock-and-flow diagrams of the sector views, drawn from the model's equations.

The sketch of ``models/hub.mdl`` is generated, never drawn by hand: :func:`render_sketch` reads
the equations (:func:`hubsd.model.mdl.parse_model`) and writes one Vensim view per sector group
with real sketch records, so Vensim (or any ``.mdl`` viewer) shows each sector as the model card
describes it, and PySD's ``split_views`` takes one module per view:

* every ``INTEG`` stock of the group is a box (record ``10``, shape 3);
* every rate of a stock is a valve (record ``11``) with its name attached beneath (record
  ``10``, shape 40) and pipes (record ``1``, thickness 22) to the stock it drains and the stock
  it fills, or to a cloud (record ``12``) where it crosses the edge of the view;
* a rate that moves people between two stocks of the view is one pipe from one to the other.
  When a rate changes more than two stocks (``promotion to mid`` fills ``Mid staff`` and drains
  both ``Junior staff`` and ``Mid vacancies``) its pipe joins the pair that share the fewest rates
  (a stock that shares several rates with another, such as vacancies with staff, tracks it
  rather than supplying it); each other stock it changes gets a valve of its own, named by a
  shadow of the rate, with a pipe to a cloud. Stocks of other views are reached the same way;
* every variable the equation of a variable, a rate or a stock's initial value reads is an
  influence arrow (record ``1``) into it: from the variable itself when it is on the view, or
  from a shadow (ghost) copy, drawn grey as ``<name>`` in Vensim, when it belongs to another
  sector (or is ``Time`` or a control variable). The rates of a stock are its pipes, not arrows.

Layout: stocks sit on a grid, each placed greedily next to the stocks it exchanges people with
(pipes run straight between neighbours, or turn once with the valve at the corner); rates that
cross the view's edge leave a stock's free sides; auxiliaries and shadows are placed in layers
around what they influence (nearest free place to the centre of their neighbours), the ones
next to the stocks and flows first. :func:`read_sketch` reads a sketch back (for the tests and
for the counts ``scripts/sync_sketch.py`` prints).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from hubsd.model.mdl import CONTROL_GROUP, TIME, Variable, parse_model

COL, ROW = 340, 280  # grid of the stocks, pixels between centres
STOCK_W, STOCK_H = 60, 26  # half sizes, as Vensim stores them
_FONT = "Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0"
_VIEW_HEADER = (
    "\\\\\\---/// Sketch information - do not modify anything except names\n"
    "V300  Do not put anything below this section - it will be ignored\n"
    "*{name}\n"
    "$192-192-192,0," + _FONT + "\n"
)
_END = "///---\\\\\\\n"
#: Vensim's settings block: run name, Euler integration, zoom, workbench variable, graph times
_FOOTER = ":L<%^E!@\n9:Current\n15:0,0,0,0,0,0\n19:100,0\n5:Time\n24:{start}\n25:{end}\n26:{end}\n"
_GHOST = "0,3,-1,0,0,0,128-128-128,0-0-0,|12||128-128-128"  # hidden 0, own font, grey
_SIDES = {"W": (-1, 0), "E": (1, 0), "N": (0, -1), "S": (0, 1)}
_OPPOSITE = {"W": "E", "E": "W", "N": "S", "S": "N"}
#: offsets along a side of a stock for its pipes to clouds, by (number of pipes, side has a route)
_OFFSETS = {
    (1, False): (0,),
    (2, False): (-45, 45),
    (3, False): (-60, 0, 60),
    (1, True): (60,),
    (2, True): (60, -60),
    (3, True): (60, -60, 110),
}
_PREFER = {"in": "WNSE", "out": "ESNW"}


@dataclass
class _Obj:
    """A sketch object: stock, auxiliary, shadow, valve, rate (attached name) or cloud."""

    id: int
    kind: str
    name: str
    x: float
    y: float
    w: int
    h: int
    real: bool = True

    def line(self, dx: float, dy: float) -> str:
        x, y = round(self.x + dx), round(self.y + dy)
        head = f"{self.id},{self.name},{x},{y},{self.w},{self.h}"
        if self.kind == "valve":
            return f"11,{self.id},48,{x},{y},6,8,34,3,0,0,1,0,0,0"
        if self.kind == "cloud":
            return f"12,{self.id},48,{x},{y},10,8,0,3,0,0,-1,0,0,0"
        shape = {"stock": 3, "rate": 40}.get(self.kind, 8)
        if not self.real:
            return f"10,{head},{shape},2,{_GHOST}"
        return f"10,{head},{shape},3,0,0,{-1 if self.kind == 'rate' else 0},0,0,0"


def _text_box(name: str) -> tuple[int, int]:
    """Half width and half height of a name written in a variable's box (12 pt, wrapped)."""
    longest_word = max((len(word) for word in name.split()), default=0)
    w = min(56, max(22, round(3.3 * len(name)), round(3.6 * longest_word)))
    lines = math.ceil(len(name) * 6.6 / (2 * w))
    return w, max(10, 8 * lines)


def flow_ends(model: dict[str, Variable]) -> dict[str, tuple[str | None, str | None]]:
    """The stock each rate's pipe drains and the stock it fills (None: a cloud).

    Candidates are the stocks whose ``INTEG`` subtracts (adds) the rate; stocks of the rate's
    own sector come first, then the pair that shares the fewest rates, then file order.

    Parameters
    ----------
    model : dict
        :func:`hubsd.model.mdl.parse_model` of the equations.

    Returns
    -------
    dict
        Rate name -> (source stock or None, destination stock or None), in file order.
    """
    stocks = [v for v in model.values() if v.kind == "stock"]
    touches = {s.name: set(s.inflows) | set(s.outflows) for s in stocks}
    order = {s.name: i for i, s in enumerate(stocks)}
    rates = [f for f in model if any(f in touches[s.name] for s in stocks)]
    ends = {}
    for f in rates:
        home = model[f].group
        sources = [s.name for s in stocks if f in s.outflows] or [None]
        sinks = [s.name for s in stocks if f in s.inflows] or [None]

        def rank(pair, home=home):
            off = sum(s is not None and model[s].group != home for s in pair)
            shared = len(touches[pair[0]] & touches[pair[1]]) if None not in pair else 0
            return off, shared, [order.get(s, -1) for s in pair]

        ends[f] = min(((a, b) for a in sources for b in sinks), key=rank)
    return ends


@dataclass
class _Plan:
    """What a view holds before it is laid out."""

    stocks: list[str]
    routes: list[tuple[str, str, str]] = field(default_factory=list)  # (source, sink, rate)
    edge_pipes: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)
    free_rates: list[str] = field(default_factory=list)  # rates with no stock on the view


def _plan(view: str, model: dict[str, Variable], ends) -> _Plan:
    plan = _Plan([v.name for v in model.values() if v.group == view and v.kind == "stock"])
    plan.edge_pipes = {s: [] for s in plan.stocks}
    for f, (src, dst) in ends.items():
        if model[f].group != view:
            continue
        a = src if src and model[src].group == view else None
        b = dst if dst and model[dst].group == view else None
        if a and b:
            plan.routes.append((a, b, f))
        elif a or b:
            plan.edge_pipes[a or b].append((f, "out" if a else "in", True))
        else:
            plan.free_rates.append(f)
    for s in plan.stocks:
        for direction, rates in (("in", model[s].inflows), ("out", model[s].outflows)):
            for f in rates:
                src, dst = ends[f]
                if model[f].group != view or (dst if direction == "in" else src) != s:
                    plan.edge_pipes[s].append((f, direction, False))
    return plan


def _route(a: tuple[int, int], b: tuple[int, int], stocks: set, used: set, sides: set):
    """Cheapest pipe from cell a to cell b: (cost, valve cell, side at a, side at b, cells)."""
    options = []
    corners = [None] if a[0] == b[0] or a[1] == b[1] else [(a[0], b[1]), (b[0], a[1])]
    for corner in corners:
        path = [a, corner, b] if corner else [a, b]
        cells, legs = [], []
        for p, q in zip(path, path[1:], strict=False):
            step = ((q[0] > p[0]) - (q[0] < p[0]), (q[1] > p[1]) - (q[1] < p[1]))
            legs.append(next(s for s, d in _SIDES.items() if d == step))
            cur = (p[0] + step[0], p[1] + step[1])
            while cur != q:
                cells.append(cur)
                cur = (cur[0] + step[0], cur[1] + step[1])
        if corner:
            cells.append(corner)
        side_a, side_b = legs[0], _OPPOSITE[legs[-1]]
        cost = 10 * (abs(a[0] - b[0]) + abs(a[1] - b[1])) + (6 if corner else 0)
        cost += sum(1000 if c in stocks else 200 if c in used else 0 for c in cells)
        cost += 100 * (((a, side_a) in sides) + ((b, side_b) in sides))
        cost += 4 * (b[0] < a[0]) + 4 * (b[1] < a[1])  # flows run right and down
        valve = corner or ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        options.append((cost, valve, side_a, side_b, cells))
    return min(options, key=lambda o: o[0])


def _place_stocks(plan: _Plan):
    """Grid cells of the stocks and the route of every stock-to-stock pipe."""
    neighbours = {s: [] for s in plan.stocks}
    for a, b, f in plan.routes:
        neighbours[a].append((a, b, f))
        neighbours[b].append((a, b, f))
    cell: dict[str, tuple[int, int]] = {}
    routes: dict[str, tuple] = {}
    used: set = set()
    sides: set = set()
    top = 0
    singles = [s for s in plan.stocks if not neighbours[s]]
    for first in (s for s in plan.stocks if neighbours[s]):
        if first in cell:
            continue
        cell[first] = (0, top)
        while True:
            todo = [
                s
                for s in plan.stocks
                if s not in cell
                and neighbours[s]
                and any(e[0] in cell or e[1] in cell for e in neighbours[s])
            ]
            if not todo:
                break
            s = max(todo, key=lambda t: sum(e[0] in cell or e[1] in cell for e in neighbours[t]))
            edges = [e for e in neighbours[s] if e[0] in cell or e[1] in cell]
            taken = set(cell.values())
            best = None
            for c0, r0 in {cell[e[0] if e[0] in cell else e[1]] for e in edges}:
                for dc in range(-3, 4):
                    for dr in range(-2, 3):
                        c = (c0 + dc, r0 + dr)
                        if c in taken or c in used:
                            continue
                        trial = {**cell, s: c}
                        found = [
                            _route(trial[e[0]], trial[e[1]], taken, used, sides) for e in edges
                        ]
                        cost = sum(o[0] for o in found)
                        key = (cost, -c[0], c[1])  # ties: downstream to the right, high
                        if best is None or key < best[0]:
                            best = (key, c, found)
            cell[s] = best[1]
            for e, option in zip(edges, best[2], strict=True):
                routes[e[2]] = option
                used.update(option[4])
                sides.update({(cell[e[0]], option[2]), (cell[e[1]], option[3])})
        top = max(r for _, r in cell.values()) + 1
    for i, s in enumerate(singles):
        cell[s] = (i, top)
    if cell:
        c_min = min(c for c, _ in cell.values())
        r_min = min(r for _, r in cell.values())
        cell = {s: (c - c_min, r - r_min) for s, (c, r) in cell.items()}
        routes = {f: (o[0], (o[1][0] - c_min, o[1][1] - r_min), *o[2:]) for f, o in routes.items()}
    return cell, routes


class _Canvas:
    """Objects of a view and the rectangles they cover, for free-place search."""

    BUCKET = 120

    def __init__(self):
        self.objects: list[_Obj] = []
        self.rects: dict[tuple[int, int], list[tuple[float, float, float, float, int]]] = {}
        self.buckets: dict[int, list[tuple[int, int]]] = {}

    def add(self, kind, name, x, y, w=None, h=None, real=True) -> _Obj:
        if w is None:
            w, h = _text_box(name)
        obj = _Obj(len(self.objects) + 1, kind, name, x, y, w, h, real)
        self.objects.append(obj)
        self.cover(x - w, y - h, x + w, y + h, obj.id)
        return obj

    def cover(self, x0, y0, x1, y1, owner=0):
        b = self.BUCKET
        for i in range(math.floor(x0 / b), math.floor(x1 / b) + 1):
            for j in range(math.floor(y0 / b), math.floor(y1 / b) + 1):
                self.rects.setdefault((i, j), []).append((x0, y0, x1, y1, owner))
                self.buckets.setdefault(owner, []).append((i, j))

    def move(self, obj: _Obj, x: float, y: float):
        for key in self.buckets.pop(obj.id, ()):
            self.rects[key] = [r for r in self.rects[key] if r[4] != obj.id]
        obj.x, obj.y = x, y
        self.cover(x - obj.w, y - obj.h, x + obj.w, y + obj.h, obj.id)

    def uncover(self, obj: _Obj):
        self.move(obj, -1e9, -1e9)

    def free(self, x0, y0, x1, y1, margin=8) -> bool:
        b = self.BUCKET
        for i in range(math.floor((x0 - margin) / b), math.floor((x1 + margin) / b) + 1):
            for j in range(math.floor((y0 - margin) / b), math.floor((y1 + margin) / b) + 1):
                for r in self.rects.get((i, j), ()):
                    if (
                        x0 - margin < r[2]
                        and r[0] < x1 + margin
                        and y0 - margin < r[3]
                        and r[1] < y1 + margin
                    ):
                        return False
        return True


_SPIRAL = sorted(
    ((dx, dy) for dx in range(-2400, 2401, 30) for dy in range(-1800, 1801, 24)),
    key=lambda d: (d[0] ** 2 + (1.8 * d[1]) ** 2, d[1], d[0]),
)


def _free_spot(canvas: _Canvas, x: float, y: float, w: float, h: float) -> tuple[float, float]:
    for dx, dy in _SPIRAL:
        if canvas.free(x + dx - w, y + dy - h, x + dx + w, y + dy + h):
            return x + dx, y + dy
    raise RuntimeError("no free place left on the view")  # pragma: no cover


class _View:
    """Builds the records of one view."""

    def __init__(self, model: dict[str, Variable]):
        self.model = model
        self.canvas = _Canvas()
        self.pipes: list[tuple[_Obj, _Obj, bool]] = []  # (valve, end, end is the sink)
        self.source: dict[str, _Obj] = {}  # name -> object arrows leave from
        self.target: dict[str, _Obj] = {}  # name -> object arrows end at
        self.stock_obj: dict[str, _Obj] = {}

    def _valve(self, rate: str, real: bool, x: float, y: float, vertical: bool, left=False):
        valve = self.canvas.add("valve", rate, x, y, 6, 8)
        w, h = _text_box(rate)
        if vertical:
            lx, ly = x + (-1 if left else 1) * (12 + w), y
        else:
            lx, ly = x, y + 12 + h
        label = self.canvas.add("rate", rate, lx, ly, w, h, real)
        if real:
            self.source[rate], self.target[rate] = label, valve
        else:
            self.source.setdefault(rate, label)
        return valve

    def _pipe_line(self, x0, y0, x1, y1):
        self.canvas.cover(min(x0, x1) - 3, min(y0, y1) - 3, max(x0, x1) + 3, max(y0, y1) + 3)

    def draw_core(self, plan: _Plan, cell, routes):
        for s in plan.stocks:
            c, r = cell[s]
            obj = self.canvas.add("stock", s, 200 + c * COL, 160 + r * ROW, STOCK_W, STOCK_H)
            self.stock_obj[s] = self.source[s] = self.target[s] = obj
        taken: dict[str, set] = {s: set() for s in plan.stocks}
        for a, b, f in plan.routes:
            _, (vc, vr), side_a, side_b, _cells = routes[f]
            x, y = 200 + vc * COL, 160 + vr * ROW
            vertical = side_b in "NS" and side_a in "NS"
            valve = self._valve(f, True, x, y, vertical, left=True)
            for s, side in ((a, side_a), (b, side_b)):
                taken[s].add(side)
                o = self.stock_obj[s]
                self._pipe_line(o.x, o.y, x, y)
            self.pipes += [(valve, self.stock_obj[b], True), (valve, self.stock_obj[a], False)]
        for s in plan.stocks:
            pipes = plan.edge_pipes[s]
            sides = self._sides(taken[s], [p[1] for p in pipes])
            for side in "WENS":
                mine = [p for p, d in zip(pipes, sides, strict=True) if d == side]
                if not mine:
                    continue
                offsets = _OFFSETS[min(len(mine), 3), side in taken[s]] + (160, -160) * 9
                for (f, direction, real), offset in zip(mine, offsets, strict=False):
                    self._edge_pipe(self.stock_obj[s], f, direction, real, side, offset)

    @staticmethod
    def _sides(routes: set, directions: list[str]) -> list[str]:
        """A side of the stock for each of its pipes to a cloud.

        Inflows go left or up, outflows right or down; sides without a route first, one pipe
        on the left and right, two on the top and bottom, then three, then any number below.
        """
        count = dict.fromkeys("WENS", 0)
        passes = [
            {d: (1 if d in "WE" else 2) - (d in routes) for d in "WENS"},
            {"W": 0, "E": 0, "N": 3, "S": 3},
            {"W": 0, "E": 0, "N": 0, "S": 99},
        ]
        out = []
        for direction in directions:
            side = next(d for cap in passes for d in _PREFER[direction] if count[d] < cap[d])
            count[side] += 1
            out.append(side)
        return out

    def _edge_pipe(self, stock: _Obj, rate: str, direction: str, real: bool, side, offset):
        dx, dy = _SIDES[side]
        reach = STOCK_W if dx else STOCK_H
        vx = stock.x + dx * (reach + 55) + (offset if not dx else 0)
        vy = stock.y + dy * (reach + 55) + (offset if dx else 0)
        cx, cy = vx + dx * 55, vy + dy * 55
        valve = self._valve(rate, real, vx, vy, vertical=not dx, left=offset < 0)
        cloud = self.canvas.add("cloud", "", cx, cy, 10, 8)
        self._pipe_line(
            vx if not dx else stock.x + dx * reach, vy if dx else stock.y + dy * reach, cx, cy
        )
        sink_is_stock = direction == "in"
        self.pipes += [
            (valve, stock if sink_is_stock else cloud, True),
            (valve, cloud if sink_is_stock else stock, False),
        ]

    def _edges(self, names: list[str]) -> list[tuple[str, str]]:
        """(used, user) pairs of every influence drawn on the view."""
        out = []
        for v in names:
            out += [(u, v) for u in self.model[v].uses]
        return out

    def draw_rest(self, plan: _Plan, names: list[str]):
        """Place free rates, auxiliaries and shadows in layers around the stocks and flows."""
        edges = self._edges(names)
        nodes = [v for v in names if v not in self.target]
        nodes += list(dict.fromkeys(u for u, _ in edges if u not in names and u not in self.source))
        adjacent: dict[str, list[str]] = {n: [] for n in nodes}
        for u, v in edges:
            for p, q in ((u, v), (v, u)):
                if p in adjacent:
                    adjacent[p].append(q)
        frontier = [n for n in nodes if any(q in self.source for q in adjacent[n])]
        order, seen = [], set(self.source)
        while frontier:
            order += frontier
            seen.update(frontier)
            frontier = list(
                dict.fromkeys(
                    q for n in frontier for q in adjacent[n] if q in adjacent and q not in seen
                )
            )
        order += [n for n in nodes if n not in seen]
        core = self.canvas.objects
        home = (min((o.x for o in core), default=200), max((o.y for o in core), default=0) + 140)
        for n in order:
            placed = [self.source[q] for q in adjacent[n] if q in self.source]
            x = sum(o.x for o in placed) / len(placed) if placed else home[0]
            y = sum(o.y for o in placed) / len(placed) if placed else home[1]
            if n in plan.free_rates:
                x, y = _free_spot(self.canvas, x, y, 90, 34)
                valve = self._valve(n, True, x, y - 10, vertical=False)
                for side in (-1, 1):
                    cloud = self.canvas.add("cloud", "", x + side * 75, y - 10, 10, 8)
                    self.pipes.append((valve, cloud, side > 0))
                self.canvas.cover(x - 90, y - 24, x + 90, y + 34)
                continue
            w, h = _text_box(n)
            x, y = _free_spot(self.canvas, x, y, w, h)
            obj = self.canvas.add("aux", n, x, y, w, h, real=n in names)
            self.source[n] = self.target[n] = obj
        for _ in range(3):  # barycentric passes: each to the free place nearest its neighbours
            for n in order:
                obj = self.source[n]
                if obj.kind != "aux" or not adjacent[n]:
                    continue
                near = [self.source[q] for q in adjacent[n]]
                self.canvas.uncover(obj)
                x, y = _free_spot(
                    self.canvas,
                    sum(o.x for o in near) / len(near),
                    sum(o.y for o in near) / len(near),
                    obj.w,
                    obj.h,
                )
                self.canvas.move(obj, x, y)

    def lines(self, names: list[str]) -> list[str]:
        objs = self.canvas.objects
        dx = 60 - min((o.x - o.w for o in objs), default=0)
        dy = 40 - min((o.y - o.h for o in objs), default=0)
        out = [o.line(dx, dy) for o in objs]
        next_id = len(objs) + 1
        for valve, end, sink in self.pipes:
            horizontal = abs(end.x - valve.x) >= abs(end.y - valve.y)
            if horizontal:  # pipes are straight: the point lies on the valve's line
                ex, ey = end.x - math.copysign(end.w, end.x - valve.x), valve.y
            else:
                ex, ey = valve.x, end.y - math.copysign(end.h, end.y - valve.y)
            px, py = round((valve.x + ex) / 2 + dx), round((valve.y + ey) / 2 + dy)
            out.append(
                f"1,{next_id},{valve.id},{end.id},{4 if sink else 100},0,0,22,0,0,0,"
                f"-1--1--1,,1|({px},{py})|"
            )
            next_id += 1
        stocks = [o for o in objs if o.kind == "stock"]
        for u, v in self._edges(names):
            a, b = self.source[u], self.target[v]
            mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2
            shape = 0
            along_pipe = {a.kind, b.kind} <= {"stock", "valve", "rate"}
            if along_pipe or any(_crosses(a, b, s) for s in stocks if s is not a and s is not b):
                # an arc (control point off the line), bulging up or right, clear of the pipe
                nx, ny = -(b.y - a.y), b.x - a.x
                if ny > 0 or (ny == 0 and nx < 0):
                    nx, ny = -nx, -ny
                mx, my, shape = mx + 0.3 * nx, my + 0.3 * ny, 1
            out.append(
                f"1,{next_id},{a.id},{b.id},{shape},0,0,0,0,64,0,-1--1--1,,1|"
                f"({round(mx + dx)},{round(my + dy)})|"
            )
            next_id += 1
        return out


def _crosses(a: _Obj, b: _Obj, box: _Obj) -> bool:
    """Whether the straight line from a to b passes through box."""
    for i in range(1, 20):
        t = i / 20
        x, y = a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)
        if abs(x - box.x) < box.w and abs(y - box.y) < box.h:
            return True
    return False


def render_view(name: str, model: dict[str, Variable], ends=None) -> str:
    """The sketch records of one sector's view (header included)."""
    ends = flow_ends(model) if ends is None else ends
    names = [v.name for v in model.values() if v.group == name]
    plan = _plan(name, model, ends)
    view = _View(model)
    cell, routes = _place_stocks(plan)
    view.draw_core(plan, cell, routes)
    view.draw_rest(plan, names)
    return _VIEW_HEADER.format(name=name) + "\n".join(view.lines(names)) + "\n"


def render_sketch(equations: str) -> str:
    r"""The sketch section of a ``.mdl`` file: one stock-and-flow view per sector group.

    Parameters
    ----------
    equations : str
        The equation section of a ``.mdl`` file (the text before the sketch).

    Returns
    -------
    str
        Everything from the first sketch marker to the end of the file (views, the sketch's end
        marker and Vensim's settings block); the same equations always give the same text.

    Examples
    --------
    >>> text = Path("models/hub.mdl").read_text()  # doctest: +SKIP
    >>> equations = text.split(SKETCH_MARKER)[0].rstrip() + "\\n\\n"  # doctest: +SKIP
    >>> Path("models/hub.mdl").write_text(equations + render_sketch(equations))  # doctest: +SKIP
    """
    model = parse_model(equations)
    ends = flow_ends(model)
    groups = dict.fromkeys(v.group for v in model.values() if v.group != CONTROL_GROUP)
    times = {}
    for key in ("INITIAL TIME", "FINAL TIME"):
        found = re.search(rf"^{key}\s*=\s*([-+.\deE]+)\s*~", equations, re.M)
        times[key] = found.group(1) if found else "0"
    footer = _FOOTER.format(start=times["INITIAL TIME"], end=times["FINAL TIME"])
    return "".join(render_view(g, model, ends) for g in groups) + _END + footer


@dataclass
class SketchView:
    """One view read back from a sketch.

    Attributes
    ----------
    name : str
        The view's name.
    objects : dict
        Object id -> record fields (the line split at commas; a variable's name is field 2).
    arrows : list of tuple
        (id, from id, to id, is a pipe, shape) of every record ``1``; a pipe's shape is 4 at
        the end it fills (arrowhead) and 100 at the end it drains.
    """

    name: str
    objects: dict[int, list[str]] = field(default_factory=dict)
    arrows: list[tuple[int, int, int, bool, int]] = field(default_factory=list)

    def variables(self, real: bool = True) -> dict[int, str]:
        """Id -> name of the variables (record ``10``) that are (not) shadows."""
        return {
            i: f[2]
            for i, f in self.objects.items()
            if f[0] == "10" and (int(f[8]) % 2 == 1) == real
        }

    def counts(self) -> dict[str, int]:
        """How many stocks, valves, clouds, pipes, influence arrows, variables and shadows."""
        kinds = [
            f[0] if f[0] != "10" else ("stock" if f[7] == "3" else "var")
            for f in self.objects.values()
        ]
        return {
            "stocks": kinds.count("stock"),
            "valves": kinds.count("11"),
            "clouds": kinds.count("12"),
            "pipes": sum(a[3] for a in self.arrows),
            "arrows": sum(not a[3] for a in self.arrows),
            "variables": len(self.variables()),
            "shadows": len(self.variables(real=False)),
        }


def read_sketch(text: str) -> dict[str, SketchView]:
    """The views of a ``.mdl`` file's sketch, record by record.

    Parameters
    ----------
    text : str
        A whole ``.mdl`` file (or its sketch section).

    Returns
    -------
    dict
        View name -> :class:`SketchView`, in file order.
    """
    views: dict[str, SketchView] = {}
    current = None
    for line in text.split("\\\\\\---///", 1)[-1].split(_END.strip(), 1)[0].splitlines():
        if line.startswith("*"):
            current = views.setdefault(line[1:].strip(), SketchView(line[1:].strip()))
        elif current is not None and line[:3] in ("10,", "11,", "12,"):
            fields = line.split(",")
            current.objects[int(fields[1])] = fields
        elif current is not None and line.startswith("1,"):
            f = line.split(",")
            current.arrows.append((int(f[1]), int(f[2]), int(f[3]), f[7] == "22", int(f[4])))
    return views


__all__ = ["TIME", "SketchView", "flow_ends", "read_sketch", "render_sketch", "render_view"]
