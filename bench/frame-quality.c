/* frame-quality.c — how close an encoded video is to its source
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: frame-quality WIDTH HEIGHT REFERENCE.i420 DISTORTED.i420
 *
 * Compares two raw I420 files frame by frame (the shorter one sets the
 * count) on their luma plane and prints one line:
 *
 *   frames=N psnr=MEAN_DB min-psnr=WORST_FRAME_DB ssim=MEAN
 *
 * PSNR is 10·log10(255² / MSE) per frame (capped at 100 dB for identical
 * frames), averaged over the frames. SSIM is the structural similarity of
 * Wang, Bovik, Sheikh and Simoncelli (IEEE Trans. Image Processing 13(4),
 * 2004) with its constants K1 = 0.01, K2 = 0.03, computed on 8×8 windows
 * every 4 pixels with uniform weights (as x264's --ssim does), averaged
 * over the windows and then over the frames. bench/encoder-variants.sh
 * uses it to show what a cheaper encoder setting costs in picture.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#define WINDOW 8
#define STEP 4

static double
frame_psnr (const guint8 *a,
            const guint8 *b,
            gsize         n)
{
  guint64 sum = 0;
  gsize i;

  for (i = 0; i < n; i++)
    {
      int d = (int) a[i] - (int) b[i];

      sum += (guint64) (d * d);
    }
  if (sum == 0)
    return 100.0;
  return MIN (100.0, 10.0 * log10 (255.0 * 255.0 * (double) n / (double) sum));
}

static double
frame_ssim (const guint8 *a,
            const guint8 *b,
            guint         width,
            guint         height)
{
  const double c1 = (0.01 * 255) * (0.01 * 255);
  const double c2 = (0.03 * 255) * (0.03 * 255);
  const double n = WINDOW * WINDOW;
  double total = 0;
  guint windows = 0;
  guint x, y, i, j;

  for (y = 0; y + WINDOW <= height; y += STEP)
    for (x = 0; x + WINDOW <= width; x += STEP)
      {
        double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        double ma, mb, va, vb, cov;

        for (j = 0; j < WINDOW; j++)
          for (i = 0; i < WINDOW; i++)
            {
              double pa = a[(y + j) * width + x + i];
              double pb = b[(y + j) * width + x + i];

              sa += pa;
              sb += pb;
              saa += pa * pa;
              sbb += pb * pb;
              sab += pa * pb;
            }
        ma = sa / n;
        mb = sb / n;
        va = saa / n - ma * ma;
        vb = sbb / n - mb * mb;
        cov = sab / n - ma * mb;
        total += ((2 * ma * mb + c1) * (2 * cov + c2)) /
                 ((ma * ma + mb * mb + c1) * (va + vb + c2));
        windows++;
      }
  return windows ? total / windows : 1.0;
}

int
main (int    argc,
      char **argv)
{
  g_autofree guint8 *frame_a = NULL;
  g_autofree guint8 *frame_b = NULL;
  FILE *reference, *distorted;
  guint64 width, height;
  gsize luma, frame;
  double psnr_sum = 0, ssim_sum = 0, psnr_min = 100.0;
  guint frames = 0;

  if (argc != 5 ||
      !g_ascii_string_to_unsigned (argv[1], 10, WINDOW, 16384, &width, NULL) ||
      !g_ascii_string_to_unsigned (argv[2], 10, WINDOW, 16384, &height, NULL) ||
      width % 2 || height % 2)
    {
      fprintf (stderr, "usage: %s WIDTH HEIGHT REFERENCE.i420 DISTORTED.i420 (even sizes)\n", argv[0]);
      return 2;
    }
  reference = fopen (argv[3], "rb");
  distorted = fopen (argv[4], "rb");
  if (reference == NULL || distorted == NULL)
    {
      fprintf (stderr, "%s: cannot open %s\n", argv[0], reference == NULL ? argv[3] : argv[4]);
      return 1;
    }

  luma = (gsize) width * height;
  frame = luma + 2 * (luma / 4);
  frame_a = g_malloc (frame);
  frame_b = g_malloc (frame);
  while (fread (frame_a, 1, frame, reference) == frame && fread (frame_b, 1, frame, distorted) == frame)
    {
      double psnr = frame_psnr (frame_a, frame_b, luma);

      psnr_sum += psnr;
      psnr_min = MIN (psnr_min, psnr);
      ssim_sum += frame_ssim (frame_a, frame_b, width, height);
      frames++;
    }
  fclose (reference);
  fclose (distorted);
  if (frames == 0)
    {
      fprintf (stderr, "%s: no complete frame to compare\n", argv[0]);
      return 1;
    }
  printf ("frames=%u psnr=%.2f min-psnr=%.2f ssim=%.4f\n",
          frames, psnr_sum / frames, psnr_min, ssim_sum / frames);
  return 0;
}
