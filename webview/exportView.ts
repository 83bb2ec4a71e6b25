/**
 * Export: the spec JSON, the cost table as Markdown and CSV, and PyTorch / Keras code from the
 * shared code generator. Each shows its text, with Copy and Save.
 */
import type { ModelCost } from '../src/shared/cost';
import type { RunResult } from '../src/shared/protocol';
import type { ModelSpec } from '../src/shared/spec';
import { costCsv, costMarkdown, costRows, timingByModule } from './costTable';
import { clear, h, icon } from './dom';
import { codeExporters } from './codeExport';

interface ExportItem {
  id: string;
  label: string;
  fileName: string;
  text(): string;
}

export class ExportView {
  private items: ExportItem[] = [];
  private selected = 'json';
  private readonly buttons = h('div', { className: 'row export-kinds', role: 'group', 'aria-label': 'What to export' });
  private readonly output = h('textarea', {
    className: 'json export-text',
    id: 'export-text',
    readonly: true,
    rows: 24,
    spellcheck: 'false',
    'aria-label': 'Exported text',
  });
  private readonly message = h('p', { className: 'muted', role: 'status' });

  constructor(
    root: HTMLElement,
    private readonly actions: { save(name: string, text: string): void; copy(text: string): void },
  ) {
    root.append(
      this.buttons,
      this.output,
      h(
        'div',
        { className: 'row' },
        h('button', { type: 'button', id: 'export-copy', onclick: () => this.actions.copy(this.output.value) }, icon('copy'), ' Copy'),
        h(
          'button',
          { type: 'button', id: 'export-save', onclick: () => this.actions.save(this.current()?.fileName ?? 'export.txt', this.output.value) },
          icon('save'),
          ' Save…',
        ),
      ),
      this.message,
    );
  }

  show(model: ModelSpec, cost: ModelCost | undefined, run: RunResult | undefined): void {
    const name = (model.name ?? 'model').replace(/[^a-zA-Z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || 'model';
    const rows = () => (cost ? costRows(cost, run ? timingByModule(run.featureMaps, run.timings) : undefined) : []);
    this.items = [
      { id: 'json', label: 'Spec JSON', fileName: `${name}.sepconv.json`, text: () => `${JSON.stringify(model, null, 2)}\n` },
      ...codeExporters(model, name),
      {
        id: 'markdown',
        label: 'Costs (Markdown)',
        fileName: `${name}_costs.md`,
        text: () => (cost ? costMarkdown(cost, rows(), model.name ?? 'model') : 'Fix the model to export its costs.'),
      },
      { id: 'csv', label: 'Costs (CSV)', fileName: `${name}_costs.csv`, text: () => (cost ? costCsv(rows()) : 'Fix the model to export its costs.') },
    ];
    clear(this.buttons);
    for (const item of this.items) {
      this.buttons.appendChild(
        h(
          'button',
          {
            type: 'button',
            id: `export-${item.id}`,
            'aria-pressed': String(item.id === this.selected),
            onclick: () => {
              this.selected = item.id;
              this.show(model, cost, run);
            },
          },
          item.label,
        ),
      );
    }
    this.render();
  }

  private current(): ExportItem | undefined {
    return this.items.find((i) => i.id === this.selected) ?? this.items[0];
  }

  private render(): void {
    const item = this.current();
    if (!item) return;
    try {
      this.output.value = item.text();
      this.message.textContent = item.fileName;
    } catch (error) {
      this.output.value = '';
      this.message.textContent = `Cannot export ${item.label}: ${(error as Error).message}`;
    }
  }
}
