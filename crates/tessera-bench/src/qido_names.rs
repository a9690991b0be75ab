//! Name lists for the QIDO corpus: about 500 family and 200 given names, mostly ASCII, some
//! accented (Latin-1 and beyond) and a few with apostrophes. Commonest family names first:
//! the generator draws them with a skew towards the start of the list.

/// Family names, whitespace-separated.
const FAMILY: &str = "
    Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore
    Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright
    Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell
    Parker Evans Edwards Collins Stewart Morris Rogers Reed Cook Morgan Bell Murphy Bailey
    Cooper Richardson Cox Howard Ward Peterson Gray James Watson Brooks Kelly Sanders Price
    Bennett Wood Barnes Ross Henderson Coleman Jenkins Perry Powell Long Patterson Hughes
    Washington Butler Simmons Foster Bryant Alexander Russell Griffin Hayes Myers Ford
    Hamilton Graham Sullivan Wallace West Cole Jordan Owens Reynolds Fisher Ellis Harrison
    Gibson McDonald Marshall Murray Freeman Wells Webb Simpson Stevens Tucker Porter Hunter
    Hicks Crawford Henry Boyd Mason Kennedy Warren Dixon Burns Gordon Shaw Holmes Robertson
    Hunt Daniels Nichols Ferguson Dunn Spencer Stephens Payne Berry Matthews Wagner Watkins
    Duncan Cunningham Andrews Harper Fox Armstrong Carpenter Greene Chavez Peters Lawson
    Smithers Smits Smirnov Smiley Smythe Smalley Schmidt Schneider Weber Schulz Richter
    Neumann Braun Hartmann Lange Krause Lehmann Köhler Müller Schröder Schäfer Böhm Krüger
    Jäger Groß Weiß Günther Möller Förster Hübner Dümmler Friedrich Keller Günzel Roth Frank
    Kaiser Scholz Bauer Stein Haas Graf Dietrich Kuhn Bernard Robert Durand Simon Lefèvre
    Michel Bertrand Vincent Fournier Girard André Dupont François Garnier Blanc Guérin
    Roussel Perrin Morin Clément Gauthier Lopez Robin Gérard Denis Côté Gagné Bélanger
    Hébert Bérubé Pelletier Lévesque Tremblay García Rodríguez González Fernández López
    Martínez Sánchez Pérez Gómez Martín Jiménez Ruíz Hernández Díaz Moreno Muñoz Álvarez
    Romero Gutiérrez Navarro Domínguez Vázquez Ramírez Molina Suárez Ortega Castro Ortiz
    Marín Núñez Iglesias Cortés Lozano Prieto Méndez Cruz Calvo Vidal León Peña Campos
    Carrasco Reyes Pascual Herrero Lorenzo Hidalgo Giménez Ibáñez Ferrer Durán Benítez
    Vargas Crespo Román Soto Pereira Oliveira Rodrigues Almeida Lima Araújo Carvalho Rocha
    Monteiro Freitas Pinto Moura Dias Cardoso Gonçalves Magalhães Simões Russo Bianchi Ricci
    Bruno Conti DeLuca Giordano Rizzo Moretti Santoro Caruso Martini Gentile Vitale Lombardo
    Coppola DeSantis D'Angelo Marchetti Conte DeVries Janssen Smit Meijer Mulder DeGroot Vos
    Hendriks Dekker Dijkstra Karlsson Larsson Svensson Pettersson Jonsson Hansson Bengtsson
    Jönsson Lindberg Lindström Berg Bergström Lundberg Mattsson Fredriksson Sandberg Sjöberg
    Forsberg Ström Åberg Öberg Sjöström Nyström Håkansson Holm Engström Ekström Hansen
    Pedersen Christensen Larsen Sørensen Rasmussen Jørgensen Madsen Thomsen Johansen Møller
    Østergaard Mikkelsen Frederiksen Berntsen Virtanen Mäkinen Mäkelä Hämäläinen Heikkinen
    Järvinen Lehtonen Salminen Heikkilä Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński
    Lewandowski Zieliński Szymański Woźniak Dąbrowski Kozłowski Jankowski Krawczyk Novák
    Novotný Dvořák Černý Procházka Kučera Veselý Horák Němec Nagy Kovács Tóth Szabó Horváth
    Kiss Molnár Németh Farkas Yılmaz Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir
    Doğan Georgiou Ioannou O'Sullivan O'Brien Byrne O'Connor O'Neill O'Reilly Doyle
    O'Doherty McLaughlin MacKenzie Paterson Wang Li Liu Chen Huang Zhou Ma Guo Gao Kim Lee
    Choi Kang Yoon Han Shin Ahn Le Hoang Huynh Vu Vo Bui Ngo Sato Tanaka Yamamoto Kobayashi
    Kato Yamada Sasaki Matsumoto Hayashi Patel Kumar Mehta Reddy Rao Nair Pillai Bose
    Mukherjee Mishra Kapoor Ali Mohamed Ibrahim Hussein Khalil Khoury Mansour Hosseini
    Rezaei Sadeghi Ivanov Kuznetsov Vasiliev Petrov Mikhailov Morozov Lebedev Pavlov
    Nikolaev Bondarenko Tkachenko Shevchenko Boyko Oliynyk Adeyemi Boateng Diallo Traoré
    Cissé Diop Mbeki Nkosi Khumalo Tesfaye Mwangi
";

/// Given names, whitespace-separated.
const GIVEN: &str = "
    James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel
    Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy
    Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin
    Scott Brandon Benjamin Samuel Gregory Alexander Patrick Frank Mary Patricia Jennifer
    Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret Sandra
    Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie
    Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicole
    Helen Samantha Katherine Christine Debra Rachel José María Zoë Renée Hélène François
    Jürgen Søren Björn Åsa Łukasz Chloé Agnès Inés Sofía Lucía Andrés Raúl Ramón Jesús
    Joaquín Iñaki Núria Mónica Álvaro Héctor João Conceição Sebastião Gonçalo Zoé Anaïs Loïc
    Noël Léa Océane Thérèse Jérôme Günter Jörg Käthe Dörte Sönke Åke Göran Ståle Øystein
    Mikaël Ørjan Søs Ahmed Fatima Mohammed Aisha Omar Layla Yusuf Mariam Hamza Zainab Wei
    Fang Jing Lei Min Hui Xin Yan Hao Jun Hiroshi Yuki Kenji Akiko Takeshi Naoko Haruto
    Sakura Minjun Jiwoo Seoyeon Hyun Soojin Raj Priya Arjun Ananya Vikram Deepa Rahul Sunita
    Olga Ivan Natalia Dmitri Svetlana Sergei Tatiana Alexei Irina Mikhail Kwame Amara Chidi
    Ngozi Kofi Abena Tendai Zanele Giulia Marco Francesca Luca Chiara Matteo Alessandro
    Federica Lorenzo Paolo Niamh Siobhán Seán Aoife Ciarán Pádraig Eoin Saoirse
";

pub fn family() -> Vec<&'static str> {
    FAMILY.split_whitespace().collect()
}

pub fn given() -> Vec<&'static str> {
    GIVEN.split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_unique_and_sized() {
        for (list, size) in [(family(), 500), (given(), 200)] {
            let unique: std::collections::BTreeSet<_> = list.iter().collect();
            assert_eq!(unique.len(), list.len());
            assert!(list.len() >= size, "{} names", list.len());
            assert!(list.iter().all(|n| !n.contains('^') && !n.contains('\\')));
        }
        assert!(family().iter().any(|n| !n.is_ascii()));
        assert_eq!(family()[0], "Smith");
    }
}
