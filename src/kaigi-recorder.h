/* kaigi-recorder.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gst/gst.h>

#include "kaigi-types.h"
#include "kaigi-media.h"
#include "kaigi-protocol.h"

G_BEGIN_DECLS

#define KAIGI_TYPE_RECORDER (kaigi_recorder_get_type ())

G_DECLARE_FINAL_TYPE (KaigiRecorder, kaigi_recorder, KAIGI, RECORDER, GObject)

KaigiRecorder *kaigi_recorder_new              (GstBin             *pipeline,
                                                const char         *room,
                                                const KaigiConfig  *config,
                                                GError            **error);
/**
 * KAIGI_RECORDER_NICE:
 *
 * The nice value (setpriority(2), +19 lowest) of a recording's streaming
 * threads: forwarding goes first on a busy machine.
 */
#define KAIGI_RECORDER_NICE 10

gboolean       kaigi_recorder_owns_object      (GstObject          *object);
void           kaigi_recorder_begin            (KaigiRecorder      *self);
void           kaigi_recorder_get_info         (KaigiRecorder      *self,
                                                KaigiRecordingInfo *info);
const char    *kaigi_recorder_get_file         (KaigiRecorder      *self);
void           kaigi_recorder_add_participant  (KaigiRecorder      *self,
                                                const char         *id,
                                                const char         *name,
                                                gboolean            audio,
                                                gboolean            video);
void           kaigi_recorder_attach_track     (KaigiRecorder      *self,
                                                const char         *id,
                                                KaigiTrackKind      kind,
                                                GstElement         *tee,
                                                const GstCaps      *caps);
void           kaigi_recorder_set_media        (KaigiRecorder      *self,
                                                const char         *id,
                                                gboolean            audio,
                                                gboolean            video);
void           kaigi_recorder_remove_participant (KaigiRecorder    *self,
                                                const char         *id);
void           kaigi_recorder_set_main         (KaigiRecorder      *self,
                                                const char         *id);
void           kaigi_recorder_add_event        (KaigiRecorder      *self,
                                                const char         *type,
                                                const char         *participant,
                                                const char         *name,
                                                const char         *text,
                                                gboolean            audio,
                                                gboolean            video);
gboolean       kaigi_recorder_handle_message   (KaigiRecorder      *self,
                                                GstMessage         *message);
void           kaigi_recorder_stop             (KaigiRecorder      *self);
guint          kaigi_recorder_get_n_closing    (void);
gboolean       kaigi_recorder_is_finished      (KaigiRecorder      *self);
gboolean       kaigi_recorder_writes           (KaigiRecorder      *self,
                                                const char         *file);
gboolean       kaigi_recorder_get_queue_levels (KaigiRecorder      *self,
                                                guint64            *video_ns,
                                                guint64            *audio_ns);

char          *kaigi_recording_make_file_name  (const char         *room,
                                                GDateTime          *time);

G_END_DECLS
