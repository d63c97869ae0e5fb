/**
 * Draws the shapes of a board as SVG, one `<g data-testid="shape">` per shape,
 * kept by id so that a change redraws only what it touched and a note's
 * textarea (with its caret) survives other people's edits.
 */
import { s, h, setAttrs } from '../dom';
import type { Point, Shape } from './model';
import { NoteTextBinding } from './note_text';

/** The SVG `points` attribute of a path, in board units. */
export function pointsAttr(shape: Pick<Shape, 'x' | 'y'>, points: Point[]): string {
  return points.map(([px, py]) => `${shape.x + px},${shape.y + py}`).join(' ');
}

interface Drawn {
  group: SVGGElement;
  type: Shape['type'];
  /** The signature of what was drawn, to skip unchanged shapes. */
  signature: string;
  note?: { textarea: HTMLTextAreaElement; binding: NoteTextBinding | null; foreign: SVGForeignObjectElement; body: SVGRectElement; underlay: SVGRectElement };
}

function signature(shape: Shape): string {
  return JSON.stringify([shape.x, shape.y, shape.w, shape.h, shape.color, shape.points]);
}

/** Draws one non-note shape's children into its group. */
function drawFigure(group: SVGGElement, shape: Shape): void {
  group.replaceChildren();
  const stroke = { stroke: shape.color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' };
  switch (shape.type) {
    case 'rect':
      group.append(
        s('rect', { x: shape.x, y: shape.y, width: shape.w, height: shape.h, fill: shape.color, 'fill-opacity': 0.15, ...stroke }),
      );
      break;
    case 'ellipse':
      group.append(
        s('ellipse', {
          cx: shape.x + shape.w / 2,
          cy: shape.y + shape.h / 2,
          rx: shape.w / 2,
          ry: shape.h / 2,
          fill: shape.color,
          'fill-opacity': 0.15,
          ...stroke,
        }),
      );
      break;
    case 'line':
    case 'stroke': {
      const points = pointsAttr(shape, shape.points);
      // A wide invisible twin makes thin lines easy to pick.
      group.append(
        s('polyline', { points, fill: 'none', stroke: 'transparent', 'stroke-width': 14, 'pointer-events': 'stroke' }),
        s('polyline', {
          points,
          fill: 'none',
          ...stroke,
          'stroke-width': shape.type === 'stroke' ? 3 : 2,
          'stroke-linecap': 'round',
          'stroke-linejoin': 'round',
        }),
      );
      break;
    }
    case 'note':
      break;
  }
}

export class ShapeRenderer {
  private drawn = new Map<string, Drawn>();

  constructor(
    private readonly layer: SVGGElement,
    private readOnly: boolean,
  ) {}

  /** Makes every note's text read-only (new notes too). */
  setReadOnly(): void {
    this.readOnly = true;
    for (const drawn of this.drawn.values()) {
      if (drawn.note) drawn.note.textarea.readOnly = true;
    }
  }

  /** Brings the layer in line with `shapes` (bottom first). */
  render(shapes: Shape[]): void {
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const shape of shapes) {
      seen.add(shape.id);
      let drawn = this.drawn.get(shape.id);
      if (drawn && drawn.type !== shape.type) {
        this.remove(shape.id);
        drawn = undefined;
      }
      if (!drawn) {
        drawn = this.create(shape);
        this.drawn.set(shape.id, drawn);
      }
      const sig = signature(shape);
      if (sig !== drawn.signature) {
        this.update(drawn, shape);
        drawn.signature = sig;
      }
      if (drawn.note && shape.text && drawn.note.binding?.text !== shape.text) {
        drawn.note.binding?.destroy();
        drawn.note.binding = new NoteTextBinding(drawn.note.textarea, shape.text);
      }
      // Keep the stacking order: each group right after the one below it.
      const expectedNext: Element | null = previous ? previous.nextElementSibling : this.layer.firstElementChild;
      if (expectedNext !== drawn.group) {
        if (previous) previous.after(drawn.group);
        else this.layer.prepend(drawn.group);
      }
      previous = drawn.group;
    }
    for (const id of [...this.drawn.keys()]) {
      if (!seen.has(id)) this.remove(id);
    }
  }

  /** The textarea of a note, if it is drawn. */
  noteTextarea(id: string): HTMLTextAreaElement | undefined {
    return this.drawn.get(id)?.note?.textarea;
  }

  destroy(): void {
    for (const id of [...this.drawn.keys()]) this.remove(id);
  }

  private create(shape: Shape): Drawn {
    const group = s('g', { 'data-testid': 'shape', 'data-shape-id': shape.id, 'data-shape-type': shape.type });
    const drawn: Drawn = { group, type: shape.type, signature: '' };
    if (shape.type === 'note') {
      // An opaque underlay so shapes below do not show through the tint.
      const underlay = s('rect', { rx: 4, fill: '#ffffff' });
      const body = s('rect', { rx: 4, 'fill-opacity': 0.35 });
      const textarea = h('textarea', {
        'data-testid': 'note-text',
        'aria-label': 'Note text',
        spellcheck: 'false',
        readonly: this.readOnly,
      });
      const foreign = s('foreignObject', {});
      foreign.append(textarea);
      group.append(underlay, body, foreign);
      drawn.note = { textarea, binding: null, foreign, body, underlay };
    }
    return drawn;
  }

  private update(drawn: Drawn, shape: Shape): void {
    if (drawn.note) {
      setAttrs(drawn.note.body, { x: shape.x, y: shape.y, width: shape.w, height: shape.h, fill: shape.color, stroke: 'rgba(0,0,0,0.25)' });
      setAttrs(drawn.note.underlay, { x: shape.x, y: shape.y, width: shape.w, height: shape.h });
      setAttrs(drawn.note.foreign, { x: shape.x, y: shape.y, width: shape.w, height: shape.h });
      return;
    }
    drawFigure(drawn.group, shape);
  }

  private remove(id: string): void {
    const drawn = this.drawn.get(id);
    if (!drawn) return;
    drawn.note?.binding?.destroy();
    drawn.group.remove();
    this.drawn.delete(id);
  }
}
