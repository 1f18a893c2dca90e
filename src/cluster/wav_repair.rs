//! Repairing a WAV file whose writer was killed: its header still says "no samples" (sizes are
//! written when a recording is finalized), so players show it empty. The sizes are recomputed
//! from the file's length (cut to whole sample frames) and written back; the samples are not
//! touched.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A repaired recording's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_ms: u64,
    pub bytes: u64,
}

/// Where the sizes go and what they are, from the file's first bytes and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// Offset of the `data` chunk's size field.
    pub data_size_at: u64,
    pub data_size: u32,
    pub riff_size: u32,
    /// The length to cut the file to (whole sample frames).
    pub file_len: u64,
    pub repaired: Repaired,
}

/// Reads the RIFF chunks of `head` (the file's first bytes) to find `fmt ` and `data`.
pub fn plan(head: &[u8], file_len: u64) -> Result<Patch, String> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    let mut at = 12usize;
    let mut format = None;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32_at(at + 4) as usize;
        if id == b"fmt " {
            if at + 8 + 16 > head.len() {
                return Err("the fmt chunk is cut short".into());
            }
            let channels = u16_at(at + 10);
            let sample_rate = u32_at(at + 12);
            let block_align = u16_at(at + 20);
            format = Some((channels, sample_rate, block_align));
        } else if id == b"data" {
            let (channels, sample_rate, block_align) =
                format.ok_or("no fmt chunk before the data")?;
            if channels == 0 || sample_rate == 0 || block_align == 0 {
                return Err("the fmt chunk names no samples".into());
            }
            let data_start = (at + 8) as u64;
            let available = file_len.saturating_sub(data_start);
            let data_len =
                (available - available % u64::from(block_align)).min(u32::MAX as u64 - 64);
            let file_len = data_start + data_len;
            let frames = data_len / u64::from(block_align);
            return Ok(Patch {
                data_size_at: (at + 4) as u64,
                data_size: data_len as u32,
                riff_size: (file_len - 8) as u32,
                file_len,
                repaired: Repaired {
                    sample_rate,
                    channels,
                    duration_ms: frames * 1000 / u64::from(sample_rate),
                    bytes: file_len,
                },
            });
        }
        at += 8 + size + (size & 1);
    }
    Err("no data chunk in the header".into())
}

/// Repairs the file at `path` in place.
pub fn repair(path: &Path) -> std::io::Result<Repaired> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut head = vec![0u8; 4096.min(len as usize)];
    file.read_exact(&mut head)?;
    let patch = plan(&head, len).map_err(std::io::Error::other)?;
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&patch.riff_size.to_le_bytes())?;
    file.seek(SeekFrom::Start(patch.data_size_at))?;
    file.write_all(&patch.data_size.to_le_bytes())?;
    file.set_len(patch.file_len)?;
    file.sync_all()?;
    Ok(patch.repaired)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stereo 16-bit 8 kHz file as a killed writer leaves it: sizes zero, samples after.
    fn killed_file(samples: usize, extra: usize) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        {
            let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
            writer.flush().unwrap();
            // hound wrote the header with no samples; the killed writer's samples follow.
            std::mem::forget(writer);
        }
        let mut bytes = cursor.into_inner();
        for i in 0..samples * 2 {
            bytes.extend_from_slice(&((i % 100) as i16).to_le_bytes());
        }
        bytes.extend(std::iter::repeat_n(0u8, extra));
        bytes
    }

    #[test]
    fn a_killed_recording_plays_after_repair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("CA1.wav");
        // One second of stereo samples and half a frame more (cut off mid-write).
        std::fs::write(&path, killed_file(8000, 3)).unwrap();
        let repaired = repair(&path).unwrap();
        assert_eq!(repaired.channels, 2);
        assert_eq!(repaired.sample_rate, 8000);
        assert_eq!(repaired.duration_ms, 1000);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.duration(), 8000);
        assert_eq!(reader.len(), 16000);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), repaired.bytes);
    }

    #[test]
    fn what_is_not_a_wav_file_is_refused() {
        assert!(plan(b"hello world, not a wav", 22).is_err());
        assert!(plan(b"RIFF\0\0\0\0WAVEdata\0\0\0\0", 20).is_err());
    }
}
