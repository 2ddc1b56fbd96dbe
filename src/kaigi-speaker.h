/* kaigi-speaker.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * KAIGI_AUDIO_LEVEL_SILENT:
 *
 * The RFC 6464 audio level of digital silence: 127, that is −127 dBov.
 */
#define KAIGI_AUDIO_LEVEL_SILENT 127

/**
 * KAIGI_AUDIO_LEVEL_SPEECH:
 *
 * Levels at or below this (louder than −50 dBov, RFC 6464 §3) count as
 * someone speaking; quieter ones as room noise.
 */
#define KAIGI_AUDIO_LEVEL_SPEECH 50

typedef struct _KaigiSpeakerDetector KaigiSpeakerDetector;

KaigiSpeakerDetector *kaigi_speaker_detector_new     (guint                 lead_ms,
                                                      guint                 hold_ms);
void                  kaigi_speaker_detector_free    (KaigiSpeakerDetector *self);
void                  kaigi_speaker_detector_add_level (KaigiSpeakerDetector *self,
                                                      const char           *id,
                                                      guint                 level,
                                                      gint64                now_us);
void                  kaigi_speaker_detector_remove  (KaigiSpeakerDetector *self,
                                                      const char           *id);
gboolean              kaigi_speaker_detector_update  (KaigiSpeakerDetector *self,
                                                      gint64                now_us);
const char           *kaigi_speaker_detector_get_speaker (KaigiSpeakerDetector *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KaigiSpeakerDetector, kaigi_speaker_detector_free)

G_END_DECLS
