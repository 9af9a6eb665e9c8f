/* report.h — report.html: the comparison as a page people look at, with
 * figures drawn by gnuplot (piped its commands on standard input, SVG out):
 * the ELBO traces of every family on one chart (with log Z where the target
 * knows it), each parameter's marginal density per family over the
 * reference, and a pair plot of the two most correlated parameters with
 * each family's 2-sigma ellipse over the reference draws or exact contour.
 *
 * The page is self-contained: no scripts, no network; the figures are SVG
 * files in figures/ beside it, referenced by relative links.  Files are
 * made in a hidden staging folder and moved into place when all are done. */
#ifndef VH_REPORT_H
#define VH_REPORT_H

#include "compare.h"
#include "errors.h"

/* The most parameters that get a marginal-density figure. */
#define VH_REPORT_MAX_MARGINALS 48

/* Writes cmp->dir/report.html and cmp->dir/figures/.  Returns 0 when
 * written; 1 when skipped because gnuplot is not available (err->message
 * says so); -1 on failure (err set; nothing of the old report is
 * touched).  The gnuplot program is $VIHOST_GNUPLOT when set (empty: do
 * not draw), else `gnuplot` on $PATH. */
int vh_report_write(const vh_comparison *cmp, vh_err *err);

#endif
