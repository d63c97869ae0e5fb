/**
 * Pan and zoom: the mapping between screen pixels and board units. The view
 * is local to this page (never shared): each person looks where they like.
 */

/** Where the view is: board point `(x, y)` sits at the screen's top left. */
export interface View {
  x: number;
  y: number;
  zoom: number;
}

export const MIN_ZOOM = 0.1;
export const MAX_ZOOM = 8;

export class Viewport {
  view: View = { x: 0, y: 0, zoom: 1 };
  private listeners: Array<() => void> = [];

  constructor(private readonly element: Element) {}

  /** Called after every change of the view. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** A client (event) position in board units. */
  toBoard(clientX: number, clientY: number): [number, number] {
    const rect = this.element.getBoundingClientRect();
    return [
      this.view.x + (clientX - rect.left) / this.view.zoom,
      this.view.y + (clientY - rect.top) / this.view.zoom,
    ];
  }

  /** Moves the view by a distance in screen pixels. */
  panBy(dx: number, dy: number): void {
    this.view = { ...this.view, x: this.view.x - dx / this.view.zoom, y: this.view.y - dy / this.view.zoom };
    this.changed();
  }

  /** Zooms by a factor, keeping the board point under `(clientX, clientY)` still. */
  zoomAt(factor: number, clientX: number, clientY: number): void {
    const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.view.zoom * factor));
    const [bx, by] = this.toBoard(clientX, clientY);
    const rect = this.element.getBoundingClientRect();
    this.view = {
      zoom,
      x: bx - (clientX - rect.left) / zoom,
      y: by - (clientY - rect.top) / zoom,
    };
    this.changed();
  }

  /** Zooms around the middle of the element (the toolbar's buttons). */
  zoomCentered(factor: number): void {
    const rect = this.element.getBoundingClientRect();
    this.zoomAt(factor, rect.left + rect.width / 2, rect.top + rect.height / 2);
  }

  reset(): void {
    this.view = { x: 0, y: 0, zoom: 1 };
    this.changed();
  }

  /** The SVG transform that draws board units at the current view. */
  transform(): string {
    const { x, y, zoom } = this.view;
    return `scale(${zoom}) translate(${-x} ${-y})`;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
