"""Draw an AgentSpec's graph as a self-contained inline SVG (no scripts, no network assets).

Nodes are laid out top to bottom in breadth-first order from the entry, ``END`` last. Edges to
the next node are straight arrows, edges that skip nodes are arcs on the left, edges that go back
up (loops) arcs on the right; conditional edges are dashed and numbered, with their conditions
listed under the graph.
"""

from __future__ import annotations

from html import escape

from agentforge.agents import END, AgentSpec

W, H, GAP = 300, 46, 34


def _order(spec: AgentSpec) -> list[str]:
    ids = [n.id for n in spec.nodes]
    seen, queue = [spec.entry], [spec.entry]
    while queue:
        cur = queue.pop(0)
        for e in spec.edges:
            if e.source == cur and e.target != END and e.target not in seen:
                seen.append(e.target)
                queue.append(e.target)
    return seen + [i for i in ids if i not in seen] + [END]


def _label(node) -> str:
    if node.kind == "vote":
        return f"vote over {node.source}" + (" (judge tie-break)" if node.tiebreak == "judge" else "")
    if node.kind == "search" and node.search is not None:
        return f"search: {node.search.method}, n={node.search.n}"
    extra = f" x{node.samples}" if node.samples > 1 else ""
    return f"{node.role}{extra}" + (" [answer]" if node.answer else "")


def _cond(e) -> str:
    parts = []
    for c in e.when:
        val = "" if c.value is None else f" {c.value}"
        parts.append(f"{c.kind} {c.node}{val}")
    return " or ".join(parts)


def spec_svg(spec: AgentSpec) -> str:
    """The spec's graph as an ``<svg>`` element (text escaped; safe to inline in HTML)."""
    order = _order(spec)
    pos = {nid: i for i, nid in enumerate(order)}
    nodes = {n.id: n for n in spec.nodes}
    back = [e for e in spec.edges if e.target != END and pos[e.target] <= pos[e.source]]
    skip = [e for e in spec.edges if e not in back and pos[e.target] - pos[e.source] > 1]
    x0 = 30 + 26 * len(skip)
    legend = [e for e in spec.edges if e.when]
    width = max(x0 + W + 40 + 26 * len(back), 560)
    height = len(order) * (H + GAP) + 20 + 18 * len(legend)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">',
           '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
           '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']

    def top(nid: str) -> int:
        return 10 + pos[nid] * (H + GAP)

    for nid in order:
        y = top(nid)
        if nid == END:
            out.append(f'<rect x="{x0 + W // 2 - 40}" y="{y}" width="80" height="{H}" rx="23" fill="#eee" '
                       f'stroke="#555"/><text x="{x0 + W // 2}" y="{y + 28}" text-anchor="middle">END</text>')
            continue
        n = nodes[nid]
        fill = "#e8f0fe" if n.kind == "llm" else ("#fef3e0" if n.kind == "vote" else "#e6f4ea")
        out.append(f'<rect x="{x0}" y="{y}" width="{W}" height="{H}" rx="6" fill="{fill}" stroke="#333" '
                   f'stroke-width="{3 if nid == spec.entry else 1}"/>'
                   f'<text x="{x0 + 10}" y="{y + 19}" font-weight="bold">{escape(nid)}</text>'
                   f'<text x="{x0 + 10}" y="{y + 36}">{escape(_label(n))}</text>')
    for e in spec.edges:
        dashed = ' stroke-dasharray="5,3"' if e.when else ""
        tag = f"{legend.index(e) + 1}" if e.when else ""
        y1, y2 = top(e.source) + H // 2, top(e.target) + H // 2
        if e in back or e in skip:
            right = e in back
            k = (back if right else skip).index(e) + 1
            xe = x0 + W if right else x0
            xc = xe + 26 * k if right else xe - 26 * k
            out.append(f'<path d="M{xe},{y1} C{xc},{y1} {xc},{y2} {xe},{y2}" fill="none" stroke="#555"{dashed} '
                       f'marker-end="url(#arrow)"/>')
            tx, ty = (xc + xe) // 2, (y1 + y2) // 2
        else:
            x = x0 + W // 2
            out.append(f'<line x1="{x}" y1="{y1 + H // 2}" x2="{x}" y2="{y2 - H // 2 - 2}" stroke="#555"{dashed} '
                       f'marker-end="url(#arrow)"/>')
            tx, ty = x + 10, y1 + H // 2 + GAP // 2 + 4
        if tag:
            out.append(f'<text x="{tx}" y="{ty}" fill="#a33" font-weight="bold">{tag}</text>')
    base = len(order) * (H + GAP) + 14
    for i, e in enumerate(legend):
        out.append(f'<text x="10" y="{base + 18 * i}" fill="#333"><tspan fill="#a33" font-weight="bold">{i + 1}</tspan>'
                   f' {escape(e.source)} \u2192 {escape(e.target)} when {escape(_cond(e))}</text>')
    out.append("</svg>")
    return "".join(out)
