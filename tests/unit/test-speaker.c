/* test-speaker.c — active speaker selection and its hysteresis
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "kaigi-speaker.h"

#define MS G_TIME_SPAN_MILLISECOND
#define LOUD 10     /* −10 dBov: speech close to the microphone */
#define QUIET 60    /* −60 dBov: room noise */

/* Feeds one 20 ms packet per participant from @from to @to (ms), with the
 * given levels, and runs the detector every 100 ms. Returns the number of
 * speaker changes seen. */
static guint
play (KaigiSpeakerDetector *detector,
      gint64                from_ms,
      gint64                to_ms,
      const char * const   *ids,
      const guint          *levels,
      guint                 n)
{
  guint changes = 0;
  gint64 t;
  guint i;

  for (t = from_ms; t < to_ms; t += 20)
    {
      for (i = 0; i < n; i++)
        if (levels[i] <= KAIGI_AUDIO_LEVEL_SILENT)
          kaigi_speaker_detector_add_level (detector, ids[i], levels[i], t * MS);
      if (t % 100 == 0 && kaigi_speaker_detector_update (detector, t * MS))
        changes++;
    }
  return changes;
}

static const char * const ids[] = { "a", "b", "c" };

static void
test_first_speaker (void)
{
  g_autoptr(KaigiSpeakerDetector) detector = kaigi_speaker_detector_new (1000, 2000);
  const guint silent[] = { QUIET, QUIET, QUIET };
  const guint a_speaks[] = { LOUD, QUIET, QUIET };

  /* Room noise elects nobody */
  g_assert_cmpuint (play (detector, 0, 3000, ids, silent, 3), ==, 0);
  g_assert_null (kaigi_speaker_detector_get_speaker (detector));

  /* With nobody on the floor, the first speaker takes it within 300 ms */
  play (detector, 3000, 3300, ids, a_speaks, 3);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "a");
}

static void
test_lead_and_hold (void)
{
  g_autoptr(KaigiSpeakerDetector) detector = kaigi_speaker_detector_new (1000, 2000);
  const guint a_speaks[] = { LOUD, QUIET, QUIET };
  const guint b_speaks[] = { QUIET, LOUD, QUIET };
  const guint b_coughs[] = { LOUD, LOUD - 5, QUIET };
  gint64 t;

  play (detector, 0, 5000, ids, a_speaks, 3);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "a");

  /* B talking over A for half a second does not switch */
  g_assert_cmpuint (play (detector, 5000, 5500, ids, b_coughs, 3), ==, 0);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "a");
  play (detector, 5500, 6000, ids, a_speaks, 3);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "a");

  /* B alone: switches after it has led for the lead time (1 s), counting
   * the smoothing delay, and not much later */
  for (t = 6000; t < 9000; t += 100)
    {
      play (detector, t, t + 100, ids, b_speaks, 3);
      if (g_strcmp0 (kaigi_speaker_detector_get_speaker (detector), "b") == 0)
        break;
    }
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "b");
  g_assert_cmpint (t - 6000, >=, 1000);
  g_assert_cmpint (t - 6000, <=, 1800);

  /* Right after the switch A speaks again: B holds the floor for at least
   * the hold time (2 s) from the switch */
  {
    gint64 switched = t + 100;
    gint64 back = 0;

    for (t = switched; t < switched + 6000; t += 100)
      {
        play (detector, t, t + 100, ids, a_speaks, 3);
        if (g_strcmp0 (kaigi_speaker_detector_get_speaker (detector), "a") == 0)
          {
            back = t + 100;
            break;
          }
      }
    g_assert_cmpint (back, >, 0);
    g_assert_cmpint (back - switched, >=, 2000);
    g_assert_cmpint (back - switched, <=, 2600);
  }
}

static void
test_silence_keeps_speaker (void)
{
  g_autoptr(KaigiSpeakerDetector) detector = kaigi_speaker_detector_new (1000, 2000);
  const guint a_speaks[] = { LOUD, QUIET, QUIET };
  const guint nothing[] = { 200, 200, 200 };  /* no packets at all (DTX) */

  play (detector, 0, 3000, ids, a_speaks, 3);
  g_assert_cmpuint (play (detector, 3000, 20000, ids, nothing, 3), ==, 0);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "a");
}

static void
test_dtx_leader_fades (void)
{
  g_autoptr(KaigiSpeakerDetector) detector = kaigi_speaker_detector_new (1000, 0);
  const guint a_speaks[] = { LOUD, QUIET, 200 };
  const guint a_stops_b_quiet[] = { 200, 40, 200 };

  play (detector, 0, 3000, ids, a_speaks, 3);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "a");
  /* A stops sending (DTX); B speaks softly: A's score decays and B wins */
  play (detector, 3000, 6000, ids, a_stops_b_quiet, 3);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "b");
}

static void
test_remove (void)
{
  g_autoptr(KaigiSpeakerDetector) detector = kaigi_speaker_detector_new (1000, 2000);
  const guint a_speaks[] = { LOUD, QUIET, QUIET };
  const guint c_speaks[] = { 200, QUIET, LOUD };

  play (detector, 0, 2000, ids, a_speaks, 3);
  kaigi_speaker_detector_remove (detector, "a");
  g_assert_null (kaigi_speaker_detector_get_speaker (detector));
  g_assert_true (kaigi_speaker_detector_update (detector, 2000 * MS));
  /* With the floor free, C takes it at once, hold or not */
  play (detector, 2000, 2400, ids, c_speaks, 3);
  g_assert_cmpstr (kaigi_speaker_detector_get_speaker (detector), ==, "c");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/speaker/first", test_first_speaker);
  g_test_add_func ("/speaker/lead-and-hold", test_lead_and_hold);
  g_test_add_func ("/speaker/silence-keeps-speaker", test_silence_keeps_speaker);
  g_test_add_func ("/speaker/dtx-leader-fades", test_dtx_leader_fades);
  g_test_add_func ("/speaker/remove", test_remove);
  return g_test_run ();
}
