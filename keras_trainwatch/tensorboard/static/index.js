// The trainwatch dashboard: one run at a time, gradient flow as heatmaps.
// TensorBoard loads this module in an iframe and calls render().

const api = (path) => new URL(path, import.meta.url).toString();

const STYLE = `
  body { font-family: Roboto, sans-serif; font-size: 13px; margin: 16px; color: #212121; }
  h2 { font-size: 15px; margin: 18px 0 6px; }
  .note { color: #616161; margin: 2px 0 8px; }
  .heatmap { display: grid; gap: 0; align-items: stretch; }
  .label { font-size: 11px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
           padding-right: 6px; text-align: right; line-height: 1; display: flex;
           align-items: center; justify-content: flex-end; }
  .cell { box-sizing: border-box; border-right: 1px solid rgba(255,255,255,0.15); }
  .cell.nonfinite { background: repeating-linear-gradient(45deg, #d50000 0 3px, #ffffff 3px 5px); }
  .cell.zero { background: #000000; }
  .cell.missing { background: #eeeeee; }
  .cell.found { box-shadow: inset 0 0 0 2px #ffffff; }
  .swatch.found { background: #9e9e9e; }
  .cell.highlight, .label.highlight { outline: 2px solid #ff6d00; outline-offset: -2px; z-index: 1; }
  .cell.reduction { background: #2962ff; }
  .legend { display: flex; gap: 14px; align-items: center; margin: 6px 0; flex-wrap: wrap; }
  .swatch { display: inline-block; width: 14px; height: 10px; vertical-align: middle; margin-right: 4px; }
  .bar { display: inline-block; position: relative; width: 320px; height: 10px; vertical-align: middle; margin-bottom: 14px; }
  .bar .mark { position: absolute; top: 10px; font-size: 10px; white-space: nowrap; color: #424242; }
  table { border-collapse: collapse; margin-top: 4px; }
  td, th { border-bottom: 1px solid #e0e0e0; padding: 3px 8px; text-align: left; vertical-align: top; }
  tr.finding { cursor: pointer; }
  tr.finding:hover, tr.finding.selected { background: #fff3e0; }
  select { font-size: 13px; }
`;

const RUN_PARAMETER = 'trainwatch_run';

// A colour map from dark blue (small) through teal to yellow (large).
const STOPS = [[13, 8, 135], [84, 2, 163], [139, 10, 165], [185, 50, 137],
               [219, 92, 104], [244, 136, 73], [254, 188, 43], [240, 249, 33]];

function colour(t) {
  const x = Math.min(Math.max(t, 0), 1) * (STOPS.length - 1);
  const i = Math.min(Math.floor(x), STOPS.length - 2);
  const f = x - i;
  const c = STOPS[i].map((v, k) => Math.round(v + f * (STOPS[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function element(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'class') node.className = value;
    else if (key === 'style') node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  if (text !== null) node.textContent = text;
  return node;
}

// One number format everywhere: 3 significant digits, in exponent form
// outside 0.001..10000 (never 0.00000104 next to 2.41e-7); "–" where
// nothing was measured.
function format(value) {
  if (value === null) return '–';
  if (typeof value === 'string') return value;
  const v = Number(value);
  if (v === 0) return '0';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(3) : v.toExponential(2);
}

// The findings whose episode covers `name` at `step` (from the step the
// episode began until the step it ended, or on if it lasts).
function findingsAt(findings, name, step) {
  return findings.filter((f) => f.layer === name && step >= f.step &&
                                (f.resolved_step === null || step < f.resolved_step));
}

// A heatmap: rows = names (model order), columns = steps; the cells under a
// finding are outlined without a click.
function heatmap(id, names, steps, matrix, scale, reductions, findings = []) {
  const width = Math.max(4, Math.min(28, Math.floor(900 / Math.max(steps.length, 1))));
  const height = Math.max(4, Math.min(18, Math.floor(720 / Math.max(names.length, 1))));
  const every = height >= 10 ? 1 : Math.ceil(10 / height);
  const grid = element('div', {
    class: 'heatmap', id,
    style: `grid-template-columns: 220px repeat(${steps.length}, ${width}px);` +
           `grid-auto-rows: ${height}px;`,
  });
  names.forEach((name, row) => {
    const label = element('div', {class: 'label', 'data-layer': name, title: name},
                          row % every === 0 ? name : '');
    label.style.fontSize = `${Math.min(11, Math.max(height, 8))}px`;
    grid.appendChild(label);
    steps.forEach((step, column) => {
      const value = matrix[row][column];
      const cell = element('div', {
        class: 'cell', 'data-layer': name, 'data-step': String(step),
        'data-value': value === null ? '' : String(value),
        title: `${name} at step ${step}: ${format(value)}`,
      });
      if (value === null) cell.classList.add('missing');
      else if (typeof value === 'string') cell.classList.add('nonfinite');
      else if (value === 0 && scale.log) cell.classList.add('zero');
      else cell.style.background = colour(scale.position(value));
      const found = findingsAt(findings, name, step);
      if (found.length) {
        cell.classList.add('found');
        cell.title += `\n${found.map((f) => f.kind).join(', ')}`;
      }
      grid.appendChild(cell);
    });
  });
  if (reductions.length) {
    grid.appendChild(element('div', {class: 'label'}, 'learning rate'));
    steps.forEach((step, column) => {
      const previous = column === 0 ? -Infinity : steps[column - 1];
      const here = reductions.filter((r) => r.step > previous && r.step <= step);
      const cell = element('div', {class: 'cell', 'data-step': String(step)});
      if (here.length) {
        cell.classList.add('reduction');
        cell.title = here.map((r) => r.text).join('\n');
      }
      grid.appendChild(cell);
    });
  }
  return grid;
}

// The same absolute scale for every run (flow.py's RELATIVE_GRAD_SCALE):
// colours mean the same thing in a healthy and a broken run.
function logScale(fixed) {
  const span = fixed.high - fixed.low;
  return {log: true, low: fixed.low, high: fixed.high, marks: fixed.marks,
          position: (v) => (Math.log10(v) - fixed.low) / span};
}

const LINEAR = {log: false, position: (v) => v};

function legend(scale, what) {
  const box = element('div', {class: 'legend'});
  const bar = element('span', {class: 'bar'});
  bar.style.background = `linear-gradient(to right, ${STOPS.map((c) => `rgb(${c})`).join(',')})`;
  const ends = scale.log
      ? [`≤1e${scale.low.toFixed(0)}`, `≥1e${scale.high.toFixed(0)}`] : ['0', '1'];
  box.append(element('span', {}, `${what}: ${ends[0]}`), bar, element('span', {}, ends[1]));
  for (const m of scale.marks || []) {
    const tick = element('span', {class: 'mark', 'data-at': String(m.at)}, `| ${m.label}`);
    tick.style.left = `${(100 * (m.at - scale.low)) / (scale.high - scale.low)}%`;
    bar.appendChild(tick);
  }
  const mark = (cls, text) => {
    const item = element('span');
    item.append(element('span', {class: `swatch cell ${cls}`}), text);
    box.append(item);
  };
  mark('nonfinite', 'NaN or inf');
  if (scale.log) mark('zero', 'exactly 0');
  mark('missing', 'not measured');
  mark('found', 'a finding (outlined)');
  return box;
}

function select(root, finding, row) {
  root.querySelectorAll('.highlight').forEach((n) => n.classList.remove('highlight'));
  root.querySelectorAll('tr.selected').forEach((n) => n.classList.remove('selected'));
  row.classList.add('selected');
  const step = String(finding.step);
  root.querySelectorAll('.cell, .label').forEach((node) => {
    const layer = node.getAttribute('data-layer');
    const sameLayer = finding.layer !== null && layer === finding.layer;
    const sameStep = node.getAttribute('data-step') === step;
    if (sameLayer || (sameStep && node.classList.contains('cell') && layer !== null)) {
      node.classList.add('highlight');
    }
  });
}

function findingsTable(root, findings) {
  if (!findings.length) return element('p', {class: 'note', id: 'no-findings'}, 'No findings.');
  const table = element('table', {id: 'findings'});
  const head = element('tr');
  for (const title of ['kind', 'layer', 'step', 'value', 'of', 'resolved', 'evidence', 'remedy']) {
    head.appendChild(element('th', {}, title));
  }
  table.appendChild(head);
  for (const finding of findings) {
    const row = element('tr', {
      class: 'finding', 'data-kind': finding.kind,
      'data-layer': finding.layer === null ? '' : finding.layer,
      'data-step': String(finding.step),
    });
    const resolved = finding.resolved_step === null ? 'lasting' : `at step ${finding.resolved_step}`;
    for (const text of [finding.kind, finding.layer ?? '(loss)', String(finding.step),
                        format(finding.value), finding.measure ?? '', resolved,
                        finding.message, finding.remedy]) {
      row.appendChild(element('td', {}, text));
    }
    row.addEventListener('click', () => select(root, finding, row));
    table.appendChild(row);
  }
  return table;
}

async function show(root, name) {
  const view = await (await fetch(api(`./run?run=${encodeURIComponent(name)}`))).json();
  root.replaceChildren();
  root.appendChild(element('h2', {}, 'Relative gradient |g|/|w| per layer (rows: input at the top) and probe (columns: training step)'));
  const scale = logScale(view.scale);
  root.appendChild(legend(scale, 'log10 |g|/|w|'));
  root.appendChild(heatmap('gradient-flow', view.layers, view.steps, view.relative_grad, scale,
                           view.reductions, view.findings));
  if (!view.dead_layers.length) {
    root.appendChild(element('p', {class: 'note', id: 'no-dead-panel'},
        'No dead-unit map: this model has no ReLU layer whose units the probe counts.'));
  } else {
    root.appendChild(element('h2', {}, 'Dead ReLU units: share of each ReLU layer\'s units that output 0 for the whole probe batch'));
    root.appendChild(legend(LINEAR, 'dead share'));
    root.appendChild(heatmap('dead-fraction', view.dead_layers, view.steps, view.dead_fraction, LINEAR, [],
                             view.findings.filter((f) => f.kind === 'dead_relu')));
  }
  root.appendChild(element('h2', {}, 'Findings (click one to highlight its layer and step)'));
  root.appendChild(findingsTable(root, view.findings));
  if (view.reductions.length) {
    root.appendChild(element('h2', {}, 'Learning-rate reductions and rollbacks (blue in the heatmap\'s last row)'));
    const list = element('ul', {id: 'reductions'});
    for (const r of view.reductions) list.appendChild(element('li', {'data-step': String(r.step)}, r.text));
    root.appendChild(list);
  }
  document.body.setAttribute('data-loaded', name);
}

export async function render() {
  document.head.appendChild(element('style', {}, STYLE));
  const runs = await (await fetch(api('./runs'))).json();
  const header = element('div');
  const picker = element('select', {id: 'run'});
  for (const name of runs) picker.appendChild(element('option', {value: name}, name));
  header.append(element('span', {}, 'Run: '), picker);
  const root = element('div', {id: 'view'});
  document.body.append(header, root);
  if (!runs.length) {
    root.appendChild(element('p', {class: 'note'}, 'No GradientWatch runs (no gradient_watch folders) in this log directory.'));
    return;
  }
  // A run can be linked: ?trainwatch_run=<name> in TensorBoard's URL (the
  // dashboard's frame shares TensorBoard's origin), kept as runs are picked.
  const top = window.parent.location;
  const wanted = new URLSearchParams(top.search).get(RUN_PARAMETER);
  const first = runs.includes(wanted) ? wanted : runs[0];
  picker.value = first;
  picker.addEventListener('change', () => {
    const url = new URL(top.href);
    url.searchParams.set(RUN_PARAMETER, picker.value);
    window.parent.history.replaceState(null, '', url);
    show(root, picker.value);
  });
  await show(root, first);
}
