/* kaigi-speaker.c — active speaker selection with hysteresis
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input is the RFC 6464 audio level (0 = 0 dBov, loudest; 127 = silence)
 * of each participant's audio, either read from the ssrc-audio-level RTP
 * header extension browsers send or measured by a `level` element on
 * decoded audio. Each participant gets an activity score: how far above
 * the speech threshold its level is, smoothed by an exponential moving
 * average, which also decays while no packets arrive (DTX, a muted
 * microphone). The loudest score is the leader; the leader becomes the
 * active speaker once it has led for `lead` ms and the current speaker has
 * held the floor for at least `hold` ms. This is the "smoothed loudest
 * level" strategy (as LiveKit uses) with explicit hysteresis, rather than
 * Volfin–Cohen's three-timescale dominant speaker identification: simpler
 * to reason about and to test, and the two times are the knobs users ask
 * for.
 */

#include "kaigi-speaker.h"

#include <math.h>

/* Time constant of the activity average (µs): a cough of 100 ms moves the
 * score by about a quarter, two seconds of speech saturate it */
#define SMOOTHING_US (400 * G_TIME_SPAN_MILLISECOND)

/* Least smoothed activity that can take the floor, in dB above the speech
 * threshold */
#define MIN_SCORE 3.0

typedef struct
{
  char *id;
  double score;
  gint64 stamp_us;
} Entry;

struct _KaigiSpeakerDetector
{
  GPtrArray *entries;     /* Entry, in arrival order: ties go to the earliest */
  gint64 lead_us;
  gint64 hold_us;
  char *speaker;
  gint64 speaker_since_us;
  char *candidate;
  gint64 candidate_since_us;
  gboolean changed;
};

static void
entry_free (Entry *entry)
{
  g_free (entry->id);
  g_free (entry);
}

/**
 * kaigi_speaker_detector_new:
 * @lead_ms: how long (ms) a new speaker must be the loudest before it
 *   takes the floor
 * @hold_ms: how long (ms) a speaker keeps the floor at least
 *
 * Creates a detector with no participants and no active speaker. A
 * detector is plain data: use it from one thread (Kaigi uses it on the
 * main context).
 *
 * Returns: (transfer full): a new detector; free with
 *   kaigi_speaker_detector_free()
 */
KaigiSpeakerDetector *
kaigi_speaker_detector_new (guint lead_ms,
                            guint hold_ms)
{
  KaigiSpeakerDetector *self = g_new0 (KaigiSpeakerDetector, 1);

  self->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  self->lead_us = (gint64) lead_ms * G_TIME_SPAN_MILLISECOND;
  self->hold_us = (gint64) hold_ms * G_TIME_SPAN_MILLISECOND;
  return self;
}

/**
 * kaigi_speaker_detector_free:
 * @self: (transfer full) (nullable): a detector
 */
void
kaigi_speaker_detector_free (KaigiSpeakerDetector *self)
{
  if (self == NULL)
    return;

  g_ptr_array_unref (self->entries);
  g_free (self->speaker);
  g_free (self->candidate);
  g_free (self);
}

static Entry *
find_entry (KaigiSpeakerDetector *self,
            const char           *id)
{
  guint i;

  for (i = 0; i < self->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->entries, i);

      if (g_str_equal (entry->id, id))
        return entry;
    }
  return NULL;
}

static double
score_at (const Entry *entry,
          gint64       now_us)
{
  gint64 dt = MAX (now_us - entry->stamp_us, 0);

  return entry->score * exp (-(double) dt / SMOOTHING_US);
}

/**
 * kaigi_speaker_detector_add_level:
 * @self: a detector
 * @id: the participant's id; unknown ids are added
 * @level: RFC 6464 §3 audio level, 0 (0 dBov) to 127 (−127 dBov);
 *   larger values are clamped
 * @now_us: the time of the measurement, monotonic µs
 *   (g_get_monotonic_time())
 *
 * Feeds one audio level measurement, typically one per RTP packet (20 ms).
 */
void
kaigi_speaker_detector_add_level (KaigiSpeakerDetector *self,
                                  const char           *id,
                                  guint                 level,
                                  gint64                now_us)
{
  Entry *entry;
  double activity, current, alpha;
  gint64 dt;

  g_return_if_fail (self != NULL);
  g_return_if_fail (id != NULL);

  level = MIN (level, KAIGI_AUDIO_LEVEL_SILENT);
  activity = level <= KAIGI_AUDIO_LEVEL_SPEECH ? (double) (KAIGI_AUDIO_LEVEL_SPEECH - level) + 1.0 : 0.0;

  entry = find_entry (self, id);
  if (entry == NULL)
    {
      entry = g_new0 (Entry, 1);
      entry->id = g_strdup (id);
      entry->stamp_us = now_us;
      g_ptr_array_add (self->entries, entry);
    }

  current = score_at (entry, now_us);
  dt = CLAMP (now_us - entry->stamp_us, 0, SMOOTHING_US);
  /* One packet's weight; at least a little so that bursts of samples
   * with the same timestamp still count */
  alpha = MAX (1.0 - exp (-(double) dt / SMOOTHING_US), 0.02);
  entry->score = current + alpha * (activity - current);
  entry->stamp_us = MAX (now_us, entry->stamp_us);
}

static void
set_speaker (KaigiSpeakerDetector *self,
             const char           *id,
             gint64                now_us)
{
  g_free (self->speaker);
  self->speaker = g_strdup (id);
  self->speaker_since_us = now_us;
  g_clear_pointer (&self->candidate, g_free);
  self->changed = TRUE;
}

/**
 * kaigi_speaker_detector_remove:
 * @self: a detector
 * @id: a participant's id
 *
 * Forgets a participant that left. If it was the active speaker there is
 * none until the next kaigi_speaker_detector_update() picks one.
 */
void
kaigi_speaker_detector_remove (KaigiSpeakerDetector *self,
                               const char           *id)
{
  Entry *entry;

  g_return_if_fail (self != NULL);
  g_return_if_fail (id != NULL);

  entry = find_entry (self, id);
  if (entry)
    g_ptr_array_remove (self->entries, entry);
  if (g_strcmp0 (self->candidate, id) == 0)
    g_clear_pointer (&self->candidate, g_free);
  if (g_strcmp0 (self->speaker, id) == 0)
    {
      g_clear_pointer (&self->speaker, g_free);
      self->changed = TRUE;
    }
}

/**
 * kaigi_speaker_detector_update:
 * @self: a detector
 * @now_us: the current time, monotonic µs; call this periodically (every
 *   100 ms is plenty)
 *
 * Applies the hysteresis: the loudest participant (by smoothed activity)
 * takes the floor once it has led for the lead time and the current
 * speaker has held it for the hold time. With no active speaker (at the
 * start, or after the speaker left) the leader takes it at once. Silence
 * never takes the floor away: the last speaker stays until someone else
 * speaks.
 *
 * Returns: %TRUE if the active speaker changed since the last call
 */
gboolean
kaigi_speaker_detector_update (KaigiSpeakerDetector *self,
                               gint64                now_us)
{
  const Entry *leader = NULL;
  double best = MIN_SCORE;
  gboolean changed;
  guint i;

  g_return_val_if_fail (self != NULL, FALSE);

  for (i = 0; i < self->entries->len; i++)
    {
      const Entry *entry = g_ptr_array_index (self->entries, i);
      double score = score_at (entry, now_us);

      if (score > best)
        {
          best = score;
          leader = entry;
        }
    }

  if (leader == NULL || g_strcmp0 (leader->id, self->speaker) == 0)
    {
      g_clear_pointer (&self->candidate, g_free);
    }
  else if (self->speaker == NULL)
    {
      set_speaker (self, leader->id, now_us);
    }
  else
    {
      if (g_strcmp0 (leader->id, self->candidate) != 0)
        {
          g_free (self->candidate);
          self->candidate = g_strdup (leader->id);
          self->candidate_since_us = now_us;
        }
      if (now_us - self->candidate_since_us >= self->lead_us &&
          now_us - self->speaker_since_us >= self->hold_us)
        set_speaker (self, leader->id, now_us);
    }

  changed = self->changed;
  self->changed = FALSE;
  return changed;
}

/**
 * kaigi_speaker_detector_get_speaker:
 * @self: a detector
 *
 * Returns: (transfer none) (nullable): the active speaker's id, or %NULL
 */
const char *
kaigi_speaker_detector_get_speaker (KaigiSpeakerDetector *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->speaker;
}
