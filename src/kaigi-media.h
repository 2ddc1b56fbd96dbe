/* kaigi-media.h — the media factory: every element Kaigi builds
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/webrtc/webrtc.h>

#include "kaigi-types.h"
#include "kaigi-error.h"

G_BEGIN_DECLS

/**
 * KAIGI_MEDIA_AUDIO_LEVEL_EXT_ID:
 *
 * The RTP header extension id (RFC 8285) the server offers for the
 * client-to-mixer audio level (RFC 6464), `a=extmap:1`.
 */
#define KAIGI_MEDIA_AUDIO_LEVEL_EXT_ID 1

/**
 * KAIGI_MEDIA_MIX_LATENCY:
 *
 * How long (ns) the compositor and audiomixer of a recording wait for late
 * input beyond the latency upstream reports: network jitter and decoding.
 */
#define KAIGI_MEDIA_MIX_LATENCY (150 * GST_MSECOND)

/**
 * KAIGI_MEDIA_FRAGMENT_DURATION_MS:
 *
 * The longest fragment (ms) of a recording's MP4 (mp4mux
 * `fragment-duration`): a crash loses the fragment being written, and
 * what is still on its way to the muxer (about 0.6 s: the mix's latency,
 * the encoders). Killed 6 s in, a file kept 4.93 s of media at 500 ms
 * fragments and 3.97 s at 1000 ms, where at most 2 s may be lost. Every
 * fragment costs the 4 KiB that mp4mux 1.22 leaks per fragment
 * (docs/recording.md), so not shorter.
 */
#define KAIGI_MEDIA_FRAGMENT_DURATION_MS 500

/**
 * KAIGI_MEDIA_MAX_PICTURE_SIDE:
 *
 * The largest width or height (pixels) of a published picture that a
 * recording decodes: 8192. With %KAIGI_MEDIA_MAX_PICTURE_AREA, this lets
 * through 8K UHD in either orientation and a 5K or 6K screen shared at its
 * native resolution. A VP8 key frame header (RFC 6386 §9.1) or an H.264
 * sequence parameter set can claim pictures up to 16383 pixels a side,
 * which would have the decoder allocate gigabytes and the compositor
 * scale them every frame. A larger picture is not decoded: its tile keeps
 * the last picture that was.
 */
#define KAIGI_MEDIA_MAX_PICTURE_SIDE 8192

/**
 * KAIGI_MEDIA_MAX_PICTURE_AREA:
 *
 * The largest picture (pixels) a recording decodes: 8192 × 4320, about
 * 35 million pixels, 53 MB a frame in I420. See
 * %KAIGI_MEDIA_MAX_PICTURE_SIDE.
 */
#define KAIGI_MEDIA_MAX_PICTURE_AREA (8192 * 4320)

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
gboolean      kaigi_media_shorten_send_path      (GstPad             *sink_pad,
                                                  GstPad             *upstream);
GstElement   *kaigi_media_make_track_tee         (const char         *name,
                                                  GError            **error);
GstElement   *kaigi_media_make_discard_sink      (GError            **error);

const char   *kaigi_media_pick_h264_encoder      (const KaigiConfig  *config,
                                                  GError            **error);
guint         kaigi_media_get_aac_encoder_delay  (const char         *factory);
GstBuffer    *kaigi_media_clip_audio_front       (GstBuffer          *buffer,
                                                  const GstAudioInfo *info,
                                                  GstClockTime        trim);
GstElement   *kaigi_media_make_recorder_bin      (const KaigiConfig  *config,
                                                  const char         *location,
                                                  GstClockTime        start,
                                                  GError            **error);
GstElement   *kaigi_media_make_decode_bin        (KaigiTrackKind      kind,
                                                  const GstCaps      *rtp_caps,
                                                  guint               latency_ms,
                                                  GError            **error);
GstElement   *kaigi_media_make_label_bin         (const char         *text,
                                                  GstClockTime        start,
                                                  GError            **error);
GstElement   *kaigi_media_make_placeholder_bin   (guint32             argb,
                                                  const char         *text,
                                                  GstClockTime        start,
                                                  GError            **error);

G_END_DECLS
