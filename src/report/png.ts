/**
 * SVG -> PNG with resvg (a Rust renderer shipped as prebuilt platform packages on the npm registry). Loaded
 * lazily: a platform without a prebuilt binary still gets the HTML report, only without PNGs.
 */

export type SvgToPng = (svg: string) => Buffer;

export async function loadPngRenderer(): Promise<{ render: SvgToPng } | { error: string }> {
  try {
    const { Resvg } = await import('@resvg/resvg-js');
    return {
      render: (svg) =>
        new Resvg(svg, {
          background: 'white',
          fitTo: { mode: 'zoom', value: 2 },
          font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
        })
          .render()
          .asPng(),
    };
  } catch (err) {
    return { error: `PNG export unavailable (@resvg/resvg-js did not load: ${(err as Error).message})` };
  }
}
