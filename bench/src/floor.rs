//! The floor: the least work any sync of a file must do — read it. Measured in the harness
//! process with the same reader the runtime uses for delimited input (the `csv` crate), and
//! with a plain buffered line reader for the fixed-column layout.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// Reads every record of a CSV file and touches every field; returns (records, checksum).
pub fn read_csv(path: &Path) -> io::Result<(u64, u64)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(io::Error::other)?;
    let mut record = csv::ByteRecord::new();
    let (mut records, mut sum) = (0u64, 0u64);
    while reader
        .read_byte_record(&mut record)
        .map_err(io::Error::other)?
    {
        records += 1;
        for field in record.iter() {
            sum = sum
                .wrapping_add(field.len() as u64 + u64::from(field.first().copied().unwrap_or(0)));
        }
    }
    Ok((records, black_box(sum)))
}

/// Reads every line of a text file with a `BufReader` and touches every byte.
pub fn read_lines(path: &Path) -> io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut line = Vec::with_capacity(256);
    let (mut records, mut sum) = (0u64, 0u64);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        records += 1;
        sum = line.iter().fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
    }
    Ok((records, black_box(sum)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_readers_count_records() {
        let p =
            std::env::temp_dir().join(format!("tapesync-bench-floor-{}.csv", std::process::id()));
        std::fs::write(&p, "a,b,c\n1,\"2,3\",4\n5,6,7\n").unwrap();
        assert_eq!(read_csv(&p).unwrap().0, 3);
        assert_eq!(read_lines(&p).unwrap().0, 3);
        std::fs::remove_file(p).unwrap();
    }
}
