/* kaigi-media.h — the media factory: every element Kaigi builds
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include "kaigi-types.h"
#include "kaigi-error.h"

G_BEGIN_DECLS

/**
 * KaigiTrackKind:
 * @KAIGI_TRACK_AUDIO: an audio track
 * @KAIGI_TRACK_VIDEO: a video track
 * @KAIGI_N_TRACK_KINDS: number of kinds
 *
 * What a track carries.
 */
typedef enum
{
  KAIGI_TRACK_AUDIO,
  KAIGI_TRACK_VIDEO,
  KAIGI_N_TRACK_KINDS
} KaigiTrackKind;

/**
 * KaigiRequiredElement:
 * @factory: the element factory name
 * @package: the Debian package that provides it
 *
 * One GStreamer element the server cannot run without.
 */
typedef struct
{
  const char *factory;
  const char *package;
} KaigiRequiredElement;

const char   *kaigi_track_kind_to_string         (KaigiTrackKind      kind);
gboolean      kaigi_track_kind_from_caps         (const GstCaps      *caps,
                                                  KaigiTrackKind     *kind);

const KaigiRequiredElement *kaigi_media_get_required_elements (guint *n_elements);

GstElement   *kaigi_media_make_pipeline          (const char         *room_name);
GstElement   *kaigi_media_make_webrtcbin         (const char         *name,
                                                  const KaigiConfig  *config,
                                                  GError            **error);
GstCaps      *kaigi_media_make_publish_caps      (KaigiTrackKind      kind);
GstCaps      *kaigi_media_make_forward_caps      (const GstCaps      *publisher_caps);
GstElement   *kaigi_media_make_track_tee         (const char         *name,
                                                  GError            **error);
GstElement   *kaigi_media_make_discard_sink      (GError            **error);

G_END_DECLS
